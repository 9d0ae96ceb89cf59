"""Private files: atomic writes that leave no copy behind, and the profile's write lock.

A write goes to an unnamed file in the same directory (Linux ``O_TMPFILE``), is synced, then
linked under a temporary name and renamed over the target: a process killed mid-write leaves
no file at all, so a key never lingers in a stray temporary file. Where ``O_TMPFILE`` is not
available, a named temporary file is used; such leftovers are removed by the next write made
under the profile lock (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from tdba_wizard.errors import TdbaError

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
LOCK_NAME = ".tdba-wizard.lock"
LOCK_TIMEOUT = 30.0


class ProfileBusyError(TdbaError):
    """Another tdba-wizard command holds the profile's write lock for too long."""

    title = "Configuration occupée"


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` (and parents) if needed; a directory we create is mode 0700."""
    if directory.is_dir():
        return
    directory.mkdir(parents=True, mode=PRIVATE_DIR_MODE, exist_ok=True)
    # mkdir's mode is filtered by the umask; set it explicitly.
    os.chmod(directory, PRIVATE_DIR_MODE)


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")


def _write_unnamed(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` through an unnamed file; False when the system has none."""
    try:
        fd = os.open(path.parent, os.O_TMPFILE | os.O_WRONLY, PRIVATE_FILE_MODE)
    except (AttributeError, OSError) as error:
        if isinstance(error, OSError) and error.errno not in (
            errno.EOPNOTSUPP,
            errno.EISDIR,
            errno.EINVAL,
            errno.ENOENT,
        ):
            raise
        return False
    temporary: Path | None = None
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
        temporary = _temporary_name(path)
        try:
            os.link(f"/proc/self/fd/{fd}", temporary, follow_symlinks=True)
        except OSError:
            temporary = None
            return False  # no /proc: the named way below
        os.replace(temporary, path)
        temporary = None
        return True
    finally:
        os.close(fd)
        if temporary is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)


def write_private_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never a mix.

    The file is 0600 from the start, so its content is never readable by others, even for an
    instant.
    """
    ensure_private_dir(path.parent)
    if not _write_unnamed(path, data):
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp_name, PRIVATE_FILE_MODE)
            os.replace(temp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise
    _fsync_directory(path.parent)


def remove_stale_temporaries(directory: Path, names: Iterable[str]) -> list[Path]:
    """Remove the temporary files an interrupted write of the files ``names`` left in
    ``directory`` (``.NAME.….tmp``, ours only: the directory may hold other files); return
    them. Call it under the profile lock only: no write of ours is then in progress there.
    """
    prefixes = tuple(f".{name}." for name in names)
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in directory.iterdir():
            name = entry.name
            if name.startswith(prefixes) and name.endswith(".tmp") and entry.is_file():
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
                    removed.append(entry)
    return removed


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


class _Held:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.depth = 0
        self.handle: int | None = None


_HELD: dict[Path, _Held] = {}
_HELD_GUARD = threading.Lock()


@contextlib.contextmanager
def profile_lock(directory: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the write lock of a profile (the directory of the configuration and its keys).

    Every read-modify-write of the configuration or of the key file holds it, so that two
    commands run at once never lose each other's changes. Re-entrant within a process; waits
    up to ``timeout`` seconds for another process, then raises :class:`ProfileBusyError`.
    """
    ensure_private_dir(directory)
    key = directory.resolve()
    with _HELD_GUARD:
        held = _HELD.setdefault(key, _Held())
    with held.lock:
        if held.depth == 0:
            held.handle = _acquire(directory / LOCK_NAME, timeout)
        held.depth += 1
        try:
            yield
        finally:
            held.depth -= 1
            if held.depth == 0 and held.handle is not None:
                os.close(held.handle)  # closing releases the flock
                held.handle = None


def _acquire(path: Path, timeout: float) -> int:
    handle = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(handle)
                raise ProfileBusyError(
                    f"Une autre commande tdba-wizard modifie la configuration ({path.parent}) "
                    f"depuis plus de {timeout:g} s. Attendez qu'elle se termine, puis "
                    "recommencez ; rien n'a été modifié."
                ) from None
            time.sleep(0.05)
            continue
        return handle

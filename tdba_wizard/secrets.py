"""Where the API keys live: environment variable, OS keyring, or an explicitly chosen file.

Lookup order at run time: ``TDBA_API_KEY_<UAI>`` → the OS keyring (service ``tdba-wizard``,
one entry per establishment) → a 0600 credentials file that exists only because the user chose
it when no usable keyring was found. There is never a silent fallback to plain text: the file is
written only on an explicit request.

Every keyring call runs in a daemon thread with a timeout, so a hung D-Bus cannot freeze the
program. Every answer says which backend gave it, for the wizard and ``--check``.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from tdba_wizard.errors import TdbaError
from tdba_wizard.files import (
    ensure_private_dir,
    profile_lock,
    remove_stale_temporaries,
    write_private_atomic,
)
from tdba_wizard.identifiers import mask_api_key

SERVICE = "tdba-wizard"
KEYRING_TIMEOUT = 5.0
ENV_PREFIX = "TDBA_API_KEY_"
SMTP_ENV = "TDBA_SMTP_PASSWORD"
Backend = Literal["env", "keyring", "file"]
StoreTarget = Literal["keyring", "file"]
T = TypeVar("T")

_WAYS_OUT = (
    "Solutions : lancer la commande depuis la session de bureau, fournir la clé par la variable "
    "d'environnement {env}, ou choisir explicitement le fichier de clés protégé "
    "(« --secret-store file »)."
)


class SecretError(TdbaError):
    """A key cannot be read, stored or deleted."""

    title = "Clé d'échange inaccessible"


class SecretNotFoundError(SecretError):
    """No key is stored anywhere for this establishment."""

    title = "Clé d'échange introuvable"


class KeyringUnavailableError(SecretError):
    """The OS keyring cannot be used right now (none, no bus, locked, hung)."""

    title = "Trousseau indisponible"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class _Unusable:
    """Why the keyring cannot be used on this machine, as detected."""

    reason: str
    message: str


@dataclass(frozen=True)
class KeyCopies:
    """The copies of one establishment's key: in the keyring, in the file. Its repr shows
    no key."""

    keyring: str | None = field(repr=False)
    file: str | None = field(repr=False)
    keyring_problem: str | None = None
    """Why the keyring could not be read (its copy is then unknown)."""

    @property
    def places(self) -> list[StoreTarget]:
        """Return where a copy is (keyring first, as lookups go)."""
        found: list[StoreTarget] = []
        if self.keyring:
            found.append("keyring")
        if self.file:
            found.append("file")
        return found

    @property
    def differ(self) -> bool:
        """Return True when both places hold a key and they are not the same."""
        return bool(self.keyring and self.file and self.keyring != self.file)


SALT_FILE = "key-fingerprints.salt"
SALT_SIZE = 32


def installation_salt(state_dir: Path, name: str = SALT_FILE) -> bytes | None:
    """Return a secret of this installation, created on first use (0600): ``name`` is the
    file (key fingerprints by default; the learners' duplicate index has its own).

    The session and cron's environment read the same file (the same ``--state-dir``), so their
    fingerprints of a key agree. None when it can be neither read nor created: then the keys
    cannot be compared, and the check says so.
    """
    path = state_dir / name
    try:
        salt = path.read_bytes()
        return salt if len(salt) == SALT_SIZE else None
    except FileNotFoundError:
        pass
    except OSError:
        return None
    try:
        ensure_private_dir(state_dir)
        temporary = state_dir / f".{name}.{os.getpid()}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(os.urandom(SALT_SIZE))
        try:
            os.link(temporary, path)  # atomic, and never replaces one another process made
        except FileExistsError:
            pass
        finally:
            temporary.unlink(missing_ok=True)
        salt = path.read_bytes()
    except OSError:
        return None
    return salt if len(salt) == SALT_SIZE else None


def fingerprint(key: str, salt: bytes) -> str:
    """Return a fingerprint of a key that tells two keys apart without revealing either
    (HMAC-SHA256 with a secret of this installation, 12 hexadecimal digits)."""
    import hashlib
    import hmac

    return hmac.new(salt, key.encode("utf-8"), hashlib.sha256).hexdigest()[:12]


@dataclass(frozen=True)
class FoundSecret:
    """A key and where it was found. Its repr never shows the key."""

    value: str = field(repr=False)
    backend: Backend
    where: str

    @property
    def masked(self) -> str:
        """Return the key with all but its first 8 and last 4 characters hidden."""
        return mask_api_key(self.value)


_NO_SESSION_BUS = _Unusable(
    "no-session-bus",
    "Le trousseau du système n'est pas joignable : aucun bus de session D-Bus "
    "(session SSH, tâche cron ou conteneur).",
)


def env_var_name(uai: str) -> str:
    """Return the environment variable that overrides the key of an establishment."""
    return f"{ENV_PREFIX}{uai.upper()}"


def entry_name(uai: str, siret: str) -> str:
    """Return the keyring user name (and credentials-file key) of an establishment."""
    return f"{uai}-{siret}"


def smtp_entry_name(username: str, host: str) -> str:
    """Return the keyring user name of the SMTP password."""
    return f"smtp:{username}@{host}"


def _run_with_timeout(call: Callable[[], T], timeout: float, what: str) -> T:
    """Run ``call`` in a daemon thread; raise :class:`KeyringUnavailableError` on timeout."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error

    worker = threading.Thread(target=target, name=f"keyring-{what}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise KeyringUnavailableError(
            f"Le trousseau du système n'a pas répondu en {timeout:g} s ({what}). Le service "
            "D-Bus est peut-être bloqué ou attend un déverrouillage à l'écran.",
            reason="timeout",
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def _describe_backend(backend: Any) -> str:
    name = type(backend).__module__.rsplit(".", 1)[-1]
    labels = {
        "SecretService": "trousseau Secret Service (GNOME Keyring, KWallet, KeePassXC)",
        "libsecret": "trousseau libsecret (GNOME Keyring)",
        "kwallet": "trousseau KWallet",
        "macOS": "trousseau macOS",
        "Windows": "gestionnaire d'identification Windows",
    }
    if name == "chainer":
        first = getattr(backend, "backends", [None])[0]
        return _describe_backend(first) if first is not None else "trousseau du système"
    return labels.get(name, f"trousseau {type(backend).__module__}")


def entry_label(name: str) -> str:
    """Return the label a keyring manager shows for an establishment's entry (in French)."""
    return f"Clé d'échange TDBA de l'établissement {name} (tdba-wizard)"


def _label_in_french(backend: Any, name: str) -> None:
    """Rename the entry just written, where the backend names entries in English.

    keyring's Secret Service backend labels every entry "Password for '…' on '…'", which is
    what « Mots de passe et clés » lists. The label is cosmetic: if it cannot be changed the
    entry works all the same, so a failure is not an error.
    """
    if type(backend).__module__ != "keyring.backends.SecretService":
        return
    try:
        collection = backend.get_preferred_collection()
        with contextlib.closing(collection.connection):
            for item in collection.search_items({"service": SERVICE, "username": name}):
                item.set_label(entry_label(name))
    except Exception:
        return


def _secret_service_entries(backend: Any, names: set[str]) -> dict[str, str | None]:
    """Read many entries of the Secret Service at once: one connection, one search for all
    of tdba-wizard's entries, one ``GetSecrets`` call (instead of a connection, a search and
    a read per key: ~18 ms each)."""
    from keyring.errors import KeyringLocked
    from secretstorage.defines import SS_PATH
    from secretstorage.util import SERVICE_IFACE, DBusAddressWrapper, open_session

    found: dict[str, str | None] = dict.fromkeys(names)
    collection = backend.get_preferred_collection()
    with contextlib.closing(collection.connection):
        if collection.is_locked():
            raise KeyringLocked("collection locked")
        paths: dict[str, str] = {}
        for item in collection.search_items({"service": SERVICE}):
            name = item.get_attributes().get("username")
            if name in names and name not in paths.values():
                paths[item.item_path] = name
        if not paths:
            return found
        session = open_session(collection.connection)
        service = DBusAddressWrapper(SS_PATH, SERVICE_IFACE, collection.connection)
        (secrets,) = service.call("GetSecrets", "aoo", list(paths), session.object_path)
        for path, secret in secrets.items():
            found[paths[path]] = _decrypted(session, secret).decode("utf-8")
    return found


def _decrypted(session: Any, secret: Any) -> bytes:
    """A Secret Service secret in clear (as ``secretstorage.Item.get_secret`` reads it)."""
    if not session.encrypted:
        return bytes(secret[2])
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    decryptor = Cipher(algorithms.AES(session.aes_key), modes.CBC(bytes(secret[1]))).decryptor()
    padded = decryptor.update(bytes(secret[2])) + decryptor.finalize()
    return padded[: -padded[-1]]


class SecretStore:
    """Read, store and delete the API key of each establishment."""

    def __init__(
        self,
        credentials_file: Path,
        *,
        environ: Mapping[str, str] | None = None,
        timeout: float = KEYRING_TIMEOUT,
    ) -> None:
        self.credentials_file = credentials_file
        self.environ = os.environ if environ is None else environ
        self.timeout = timeout
        self._detected: Any = None  # the backend, or an _Unusable verdict
        self._file_cache: tuple[tuple[int, int, int], dict[str, str]] | None = None
        self._prefetched: dict[str, str | None] = {}
        """Keyring entries read together by :meth:`prefetch` (None: not there)."""
        self._prefetch_problem: tuple[set[str], KeyringUnavailableError] | None = None

    # -- keyring -------------------------------------------------------------------------

    def _keyring(self, env_hint: str) -> Any:
        """Return the usable keyring backend, or raise with a reason the admin can act on.

        Detected once per store (a command reads many keys); a timed-out detection is retried.
        """
        if self._detected is None:
            self._detected = self._detect()
        if isinstance(self._detected, _Unusable):
            raise KeyringUnavailableError(
                self._detected.message + " " + _WAYS_OUT.format(env=env_hint),
                reason=self._detected.reason,
            )
        return self._detected

    def _detect(self) -> Any:
        if self._bus_needed_and_absent():
            return _NO_SESSION_BUS
        import keyring
        from keyring.backends import fail

        backend = _run_with_timeout(keyring.get_keyring, self.timeout, "détection")
        empty_chain = type(backend).__name__ == "ChainerBackend" and not getattr(
            backend, "backends", None
        )
        if not (isinstance(backend, fail.Keyring) or empty_chain):
            return backend
        if sys.platform.startswith("linux") and not self.environ.get("DBUS_SESSION_BUS_ADDRESS"):
            return _NO_SESSION_BUS
        return _Unusable(
            "no-backend",
            "Aucun trousseau du système utilisable sur cette machine (installez par exemple "
            "gnome-keyring).",
        )

    def _bus_needed_and_absent(self) -> bool:
        """Return True when the keyring cannot work, known without loading it (Linux, no bus).

        Loading the keyring imports every backend (0.1 to 0.2 s), which a ``--check`` run
        every few minutes by monitoring, under cron, should not pay for nothing: on Linux, the
        backends keyring ships (Secret Service, KWallet, libsecret) all need the session bus.
        Not assumed when a backend was chosen already (in this process, by
        ``PYTHON_KEYRING_BACKEND`` or by keyring's ``keyringrc.cfg``).
        """
        environ = self.environ
        if not sys.platform.startswith("linux") or environ.get("DBUS_SESSION_BUS_ADDRESS"):
            return False
        if environ.get("PYTHON_KEYRING_BACKEND"):
            return False
        loaded = sys.modules.get("keyring.core")
        if loaded is not None and getattr(loaded, "_keyring_backend", None) is not None:
            return False
        config_home = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return not Path(config_home, "python_keyring", "keyringrc.cfg").exists()

    def _keyring_call(self, what: str, env_hint: str, call: Callable[[Any], T]) -> T:
        backend = self._keyring(env_hint)  # raises first when no keyring can be used
        from keyring.errors import KeyringLocked

        try:
            return _run_with_timeout(lambda: call(backend), self.timeout, what)
        except KeyringLocked:
            raise KeyringUnavailableError(
                "Le trousseau du système est verrouillé : déverrouillez-le (ouverture de session "
                "ou application « Mots de passe et clés ») puis recommencez. "
                + _WAYS_OUT.format(env=env_hint),
                reason="locked",
            ) from None
        except KeyringUnavailableError:
            raise
        except Exception as error:
            # The error text of a backend never holds the key (it is not passed on reads), but
            # only its class name is kept, to be safe on writes.
            raise KeyringUnavailableError(
                f"Le trousseau du système a refusé l'opération ({type(error).__name__}). "
                + _WAYS_OUT.format(env=env_hint),
                reason="error",
            ) from None

    def prefetch(self, couples: list[tuple[str, str]]) -> None:
        """Read the keyring entries of many establishments at once (one search and one read
        with the Secret Service; one read each, in one thread, with the others), with one
        timeout; :meth:`get` and :meth:`copies` then answer from what was read. When the
        keyring cannot be read, each of them reports it as a single read would."""
        names = {entry_name(uai, siret) for uai, siret in couples}
        if not names:
            return
        env = env_var_name("<UAI>")

        def read(backend: Any) -> dict[str, str | None]:
            if type(backend).__module__ == "keyring.backends.SecretService":
                return _secret_service_entries(backend, names)
            return {name: backend.get_password(SERVICE, name) for name in names}

        try:
            found = self._keyring_call("lecture groupée", env, read)
        except KeyringUnavailableError as error:
            self._prefetch_problem = (names, error)
            return
        self._prefetched.update(found)

    @contextlib.contextmanager
    def reading_many(self, couples: list[tuple[str, str]]) -> Iterator[None]:
        """:meth:`prefetch` for the time of the block: a store that lives long (the wizard)
        reads the keyring again next time, never an old copy."""
        self.prefetch(couples)
        try:
            yield
        finally:
            self._prefetched.clear()
            self._prefetch_problem = None

    def _keyring_value(self, name: str, env: str) -> str | None:
        """One keyring entry: from :meth:`prefetch` when it read it, else read now."""
        if name in self._prefetched:
            return self._prefetched[name]
        if self._prefetch_problem is not None and name in self._prefetch_problem[0]:
            raise self._prefetch_problem[1]
        value = self._keyring_call(
            "lecture", env, lambda backend: backend.get_password(SERVICE, name)
        )
        return str(value) if value else None

    def _forget(self, name: str) -> None:
        """A write or a delete: what was read of this entry is no longer true."""
        self._prefetched.pop(name, None)

    def keyring_description(self) -> str:
        """Return a French name of the keyring in use, or raise if none is usable."""
        return _describe_backend(self._keyring(env_var_name("<UAI>")))

    def check_keyring(self) -> str:
        """Read an entry that does not exist: prove the keyring answers here (not only that a
        backend is configured); return its French name. Raises
        :class:`KeyringUnavailableError` with the reason."""
        env = env_var_name("<UAI>")
        self._keyring_call("lecture", env, lambda backend: backend.get_password(SERVICE, "sonde"))
        return _describe_backend(self._keyring(env))

    # -- credentials file ----------------------------------------------------------------

    def _read_file(self) -> dict[str, str]:
        path = self.credentials_file
        try:
            info = path.stat()
        except FileNotFoundError:
            return {}
        # A file replaced by another process has a new inode even within the same mtime tick.
        identity = (info.st_ino, info.st_mtime_ns, info.st_size)
        if self._file_cache is not None and self._file_cache[0] == identity:
            return dict(self._file_cache[1])
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise SecretError(
                f"Le fichier de clés {path} est lisible par d'autres utilisateurs "
                f"(droits {mode:o}) : il est ignoré. Corrigez avec « chmod 600 {path} »."
            )
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            raise SecretError(
                f"Le fichier de clés {path} est illisible ou mal formé ; supprimez-le et "
                "enregistrez la clé à nouveau."
            ) from None
        keys = data.get("keys", {})
        result = {str(k): str(v) for k, v in keys.items()} if isinstance(keys, dict) else {}
        self._file_cache = (identity, result)
        return dict(result)

    def _write_file(self, keys: dict[str, str]) -> None:
        import tomli_w  # writing only: reading the keys never loads it

        header = (
            "# Clés d'échange TDBA de tdba-wizard : fichier choisi explicitement faute de\n"
            "# trousseau utilisable. Lisible par vous seul (0600) ; ne le copiez pas.\n"
        )
        text = header + tomli_w.dumps({"keys": dict(sorted(keys.items()))})
        try:
            write_private_atomic(self.credentials_file, text.encode("utf-8"))
        except OSError as error:
            raise SecretError(
                f"Écriture impossible du fichier de clés {self.credentials_file} : "
                f"{error.strerror}."
            ) from None

    def _file_where(self) -> str:
        return f"fichier de clés {self.credentials_file}"

    # -- public API ----------------------------------------------------------------------

    def get(self, uai: str, siret: str) -> FoundSecret:
        """Return the key of an establishment and where it was found."""
        env = env_var_name(uai)
        try:
            return self._lookup(entry_name(uai, siret), env)
        except SecretNotFoundError:
            raise SecretNotFoundError(
                f"Aucune clé d'échange enregistrée pour l'UAI {uai} / SIRET {siret}. "
                "Enregistrez-la avec l'assistant ou « tdba-wizard add », ou fournissez-la par "
                f"la variable {env}."
            ) from None

    def get_smtp_password(self, username: str, host: str) -> FoundSecret:
        """Return the SMTP password of the report mail server (``$TDBA_SMTP_PASSWORD`` first)."""
        try:
            return self._lookup(smtp_entry_name(username, host), SMTP_ENV)
        except SecretNotFoundError:
            raise SecretNotFoundError(
                f"Aucun mot de passe SMTP enregistré pour {username}@{host} : fournissez-le par "
                f"la variable {SMTP_ENV} ou enregistrez-le dans le trousseau (service "
                f"tdba-wizard, entrée {smtp_entry_name(username, host)})."
            ) from None

    def _lookup(self, name: str, env: str) -> FoundSecret:
        """Return a secret from the environment, the keyring or the chosen file, in that order."""
        if self.environ.get(env, "").strip():
            return FoundSecret(self.environ[env].strip(), "env", f"variable d'environnement {env}")
        keyring_error: KeyringUnavailableError | None = None
        try:
            value = self._keyring_value(name, env)
            if value:
                where = _describe_backend(self._keyring(env))
                return FoundSecret(value, "keyring", where)
        except KeyringUnavailableError as error:
            keyring_error = error
        from_file = self._read_file().get(name)
        if from_file:
            return FoundSecret(from_file, "file", self._file_where())
        if keyring_error is not None:
            raise keyring_error
        raise SecretNotFoundError(name)

    def read_from(self, uai: str, siret: str, target: StoreTarget) -> str | None:
        """Return the key stored in one place only (None: not there).

        Raises :class:`KeyringUnavailableError` when the keyring cannot be read.
        """
        name = entry_name(uai, siret)
        if target == "file":
            return self._read_file().get(name) or None
        return self._keyring_value(name, env_var_name(uai))

    def copies(self, uai: str, siret: str) -> KeyCopies:
        """Return the copies of a key in the keyring and in the file (never raises for the
        keyring: its problem is given instead)."""
        try:
            in_file = self.read_from(uai, siret, "file")
        except SecretError:
            in_file = None
        try:
            in_keyring = self.read_from(uai, siret, "keyring")
            problem = None
        except KeyringUnavailableError as error:
            in_keyring, problem = None, error.message
        return KeyCopies(in_keyring, in_file, problem)

    def where(self, target: StoreTarget) -> str:
        """Return, in French, a place keys are kept (raises if the keyring is unusable)."""
        if target == "file":
            return f"{self._file_where()} (0600)"
        return f"{self.keyring_description()} (service {SERVICE})"

    def _change_file(self, change: Callable[[dict[str, str]], bool]) -> bool:
        """Read, change and write the keys file under the profile lock (what is on disk now,
        not an older copy); ``change`` says whether it changed anything (else nothing is
        written). Return that."""
        with profile_lock(self.credentials_file.parent):
            remove_stale_temporaries(self.credentials_file.parent, [self.credentials_file.name])
            keys = self._read_file()
            changed = change(keys)
            if changed:
                self._write_file(keys)
        return changed

    def store(self, uai: str, siret: str, key: str, target: StoreTarget = "keyring") -> str:
        """Store the key in the keyring (or the chosen file) and return where, in French."""
        name = entry_name(uai, siret)
        self._forget(name)
        if target == "file":

            def put(keys: dict[str, str]) -> bool:
                keys[name] = key
                return True

            self._change_file(put)
            return self._file_where()
        env = env_var_name(uai)

        def write_and_read_back(backend: Any) -> bool:
            backend.set_password(SERVICE, name, key)
            _label_in_french(backend, name)
            return bool(backend.get_password(SERVICE, name) == key)

        if not self._keyring_call("enregistrement", env, write_and_read_back):
            raise SecretError(
                "Le trousseau a accepté la clé mais ne la restitue pas à l'identique ; "
                "elle n'est pas utilisable."
            )
        return _describe_backend(self._keyring(env))

    def delete_from(self, uai: str, siret: str, target: StoreTarget) -> bool:
        """Delete the key from one place only; return False when it was not there."""
        name = entry_name(uai, siret)
        self._forget(name)
        if target == "file":
            return self._change_file(lambda keys: keys.pop(name, None) is not None)
        from keyring.errors import PasswordDeleteError

        def delete_entry(backend: Any) -> bool:
            try:
                backend.delete_password(SERVICE, name)
            except PasswordDeleteError:
                return False
            return True

        return self._keyring_call("suppression", env_var_name(uai), delete_entry)

    def delete(self, uai: str, siret: str) -> list[str]:
        """Delete the key from the keyring and the credentials file; return where it was."""
        removed: list[str] = []
        if self.delete_from(uai, siret, "file"):
            removed.append(self._file_where())
        try:
            if self.delete_from(uai, siret, "keyring"):
                removed.append(_describe_backend(self._keyring(env_var_name(uai))))
        except KeyringUnavailableError:
            if not removed:
                raise
        return removed

"""A real Secret Service for tests: gnome-keyring on a private D-Bus session bus."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

THROWAWAY_PASSWORD = "jetable-pour-les-tests"


def require(*programs: str) -> None:
    """Skip when a program is missing, except under CI where the real part is mandatory."""
    missing = [p for p in programs if shutil.which(p) is None]
    if not missing:
        return
    reason = f"programme(s) absent(s) : {', '.join(missing)}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} — obligatoire en CI (.ci/run doit l'installer)")
    pytest.skip(reason)


@contextmanager
def secret_service(home: Path) -> Iterator[dict[str, str]]:
    """Start dbus-daemon + an unlocked gnome-keyring; yield the environment to use them."""
    require("dbus-daemon", "gnome-keyring-daemon")
    runtime = home / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = dict(
        os.environ,
        HOME=str(home),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_RUNTIME_DIR=str(runtime),
    )
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
        start_new_session=True,
    )
    try:
        assert bus.stdout is not None
        env["DBUS_SESSION_BUS_ADDRESS"] = bus.stdout.readline().strip()
        started = subprocess.run(
            ["gnome-keyring-daemon", "--unlock", "--components=secrets", "--daemonize"],
            input=THROWAWAY_PASSWORD + "\n",
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=False,
        )
        if started.returncode != 0:
            pytest.fail(f"gnome-keyring-daemon n'a pas démarré : {started.stderr}")
        yield env
    finally:
        subprocess.run(
            ["pkill", "-f", f"gnome-keyring-daemon.*{runtime}"], check=False, capture_output=True
        )
        os.killpg(bus.pid, signal.SIGTERM)
        bus.wait(timeout=10)


def keyring_daemon_pid(env: dict[str, str]) -> int:
    """The gnome-keyring-daemon serving this bus (found by its environment, not its name)."""
    address = f"DBUS_SESSION_BUS_ADDRESS={env['DBUS_SESSION_BUS_ADDRESS']}".encode()
    for proc in Path("/proc").iterdir():
        try:
            if b"gnome-keyring" not in (proc / "cmdline").read_bytes():
                continue
            if address in (proc / "environ").read_bytes().split(b"\0"):
                return int(proc.name)
        except (OSError, ValueError):
            continue
    raise LookupError("gnome-keyring-daemon introuvable")

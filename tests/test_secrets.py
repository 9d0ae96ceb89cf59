"""Secret storage: lookup order, explicit file, timeouts, failures, real Secret Service."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail
from keyring.errors import KeyringLocked

from tdba_wizard.secrets import (
    SERVICE,
    KeyringUnavailableError,
    SecretError,
    SecretNotFoundError,
    SecretStore,
    entry_name,
)

from .conftest import DEMO_KEY, OTHER_KEY, MemoryKeyring
from .secret_service import keyring_daemon_pid

UAI, SIRET = "0802004U", "77937827200016"


@pytest.fixture
def store(tmp_path: Path) -> SecretStore:
    return SecretStore(
        tmp_path / "cfg" / "credentials.toml", environ={"DBUS_SESSION_BUS_ADDRESS": "x"}
    )


def test_store_read_delete_keyring(store: SecretStore, memory_keyring: MemoryKeyring) -> None:
    assert "trousseau" in store.store(UAI, SIRET, DEMO_KEY)
    assert memory_keyring.entries == {(SERVICE, "0802004U-77937827200016"): DEMO_KEY}
    found = store.get(UAI, SIRET)
    assert (found.value, found.backend) == (DEMO_KEY, "keyring")
    assert DEMO_KEY not in repr(found)
    assert found.masked == "1b2c3d4e-••••-••••-••••-••••••••4c5d"
    assert store.delete(UAI, SIRET)
    with pytest.raises(SecretNotFoundError, match="TDBA_API_KEY_0802004U"):
        store.get(UAI, SIRET)
    assert not store.credentials_file.exists()


def test_environment_comes_first(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "c.toml", environ={"TDBA_API_KEY_0802004U": f" {OTHER_KEY}\n"})
    store.store(UAI, SIRET, DEMO_KEY)
    found = store.get(UAI, SIRET)
    assert (found.value, found.backend) == (OTHER_KEY, "env")
    assert "TDBA_API_KEY_0802004U" in found.where


def test_explicit_file_is_private(store: SecretStore, memory_keyring: MemoryKeyring) -> None:
    store.store(UAI, SIRET, DEMO_KEY, target="file")
    assert memory_keyring.entries == {}
    assert stat.S_IMODE(store.credentials_file.stat().st_mode) == 0o600
    found = store.get(UAI, SIRET)
    assert (found.value, found.backend) == (DEMO_KEY, "file")
    assert store.delete(UAI, SIRET) == [f"fichier de clés {store.credentials_file}"]


def test_file_readable_by_others_is_refused(store: SecretStore) -> None:
    store.store(UAI, SIRET, DEMO_KEY, target="file")
    store.credentials_file.chmod(0o644)
    with pytest.raises(SecretError, match="chmod 600"):
        store.get(UAI, SIRET)


def test_file_used_when_keyring_is_unreachable(tmp_path: Path) -> None:
    keyring.set_keyring(fail.Keyring())
    store = SecretStore(tmp_path / "c.toml", environ={})
    store.store(UAI, SIRET, DEMO_KEY, target="file")
    assert store.get(UAI, SIRET).backend == "file"


def test_no_session_bus_is_explained(tmp_path: Path) -> None:
    keyring.set_keyring(fail.Keyring())
    store = SecretStore(tmp_path / "c.toml", environ={})
    with pytest.raises(KeyringUnavailableError) as caught:
        store.get(UAI, SIRET)
    assert caught.value.reason == "no-session-bus"
    assert "aucun bus de session D-Bus" in caught.value.message
    assert "--secret-store file" in caught.value.message


def test_no_backend_is_explained(tmp_path: Path) -> None:
    keyring.set_keyring(fail.Keyring())
    store = SecretStore(tmp_path / "c.toml", environ={"DBUS_SESSION_BUS_ADDRESS": "unix:x"})
    with pytest.raises(KeyringUnavailableError) as caught:
        store.store(UAI, SIRET, DEMO_KEY)
    assert caught.value.reason == "no-backend"
    assert not store.credentials_file.exists()  # never a silent plain-text fallback


PROBE = """
import sys
from pathlib import Path
from tdba_wizard.secrets import SecretError, SecretStore
store = SecretStore(Path(sys.argv[1]))
store.store("0802004U", "48401246400091", sys.stdin.read(), target="file")
found = store.get("0802004U", "48401246400091")
try:
    store.get("0590000E", "10000000000016")
except SecretError as error:
    reason = getattr(error, "reason", type(error).__name__)
print(found.backend, reason, "keyring" in sys.modules)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux session bus")
@pytest.mark.parametrize(
    ("setting", "loaded"),
    [(None, False), ("env", True), ("keyringrc", True), ("bus", True)],
)
def test_keyring_is_not_loaded_when_it_cannot_work(
    tmp_path: Path, setting: str | None, loaded: bool
) -> None:
    """Under cron on Linux (no session bus), --check and sync do not pay to load keyring."""
    env = {k: v for k, v in os.environ.items() if "KEYRING" not in k and "DBUS" not in k}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    if setting == "env":
        env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    elif setting == "keyringrc":
        rc = tmp_path / "config" / "python_keyring" / "keyringrc.cfg"
        rc.parent.mkdir(parents=True)
        rc.write_text("[backend]\ndefault-keyring=keyring.backends.null.Keyring\n")
    elif setting == "bus":
        env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={tmp_path / 'no-bus'}"
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "credentials.toml")],
        input=DEMO_KEY, capture_output=True, text=True, env=env, check=True, timeout=60,
    )  # fmt: skip
    backend, reason, keyring_loaded = result.stdout.split()
    assert backend == "file"
    assert keyring_loaded == str(loaded)
    if setting is None:
        assert reason == "no-session-bus"


class HungKeyring(MemoryKeyring):
    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:
        self.release.wait(30)
        return None


@pytest.fixture
def hung() -> Iterator[HungKeyring]:
    backend = HungKeyring()
    keyring.set_keyring(backend)
    yield backend
    backend.release.set()


def test_hung_keyring_times_out(tmp_path: Path, hung: HungKeyring) -> None:
    store = SecretStore(tmp_path / "c.toml", environ={}, timeout=0.2)
    with pytest.raises(KeyringUnavailableError) as caught:
        store.get(UAI, SIRET)
    assert caught.value.reason == "timeout"
    assert "n'a pas répondu en 0.2 s" in caught.value.message


class LockedKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("Failed to unlock the collection!")


def test_locked_keyring_is_explained(tmp_path: Path) -> None:
    keyring.set_keyring(LockedKeyring())
    with pytest.raises(KeyringUnavailableError, match="verrouillé") as caught:
        SecretStore(tmp_path / "c.toml", environ={}).get(UAI, SIRET)
    assert caught.value.reason == "locked"


class ExplodingKeyring(MemoryKeyring):
    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError(f"backend said {password}")


def test_backend_error_text_never_carries_the_key(tmp_path: Path) -> None:
    keyring.set_keyring(ExplodingKeyring())
    with pytest.raises(KeyringUnavailableError) as caught:
        SecretStore(tmp_path / "c.toml", environ={}).store(UAI, SIRET, DEMO_KEY)
    assert DEMO_KEY not in str(caught.value)
    assert "RuntimeError" in str(caught.value)


@pytest.mark.secret_service
def test_real_secret_service(real_keyring: Path) -> None:
    store = SecretStore(real_keyring / "c.toml")
    assert "Secret Service" in store.store(UAI, SIRET, DEMO_KEY)
    found = store.get(UAI, SIRET)
    assert (found.value, found.backend) == (DEMO_KEY, "keyring")
    assert "Secret Service" in found.where
    assert keyring.get_keyring().get_password(SERVICE, entry_name(UAI, SIRET)) == DEMO_KEY
    # What « Mots de passe et clés » lists: a French label, not keyring's English one.
    backend = keyring.get_keyring()
    collection = backend.get_preferred_collection()  # type: ignore[attr-defined]
    items = list(collection.search_items({"service": SERVICE, "username": entry_name(UAI, SIRET)}))
    assert [item.get_label() for item in items] == [
        f"Clé d'échange TDBA de l'établissement {entry_name(UAI, SIRET)} (tdba-wizard)"
    ]
    assert store.check_keyring().startswith("trousseau Secret Service")
    assert store.delete(UAI, SIRET)
    with pytest.raises(SecretNotFoundError):
        store.get(UAI, SIRET)


NETWORK = [(f"0{n:06d}A", f"{n:014d}") for n in range(1, 8)]


@pytest.mark.secret_service
def test_many_keys_read_in_one_go(real_keyring: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = SecretStore(real_keyring / "c.toml")
    present = NETWORK[:5]
    for index, (uai, siret) in enumerate(present):
        writer.store(uai, siret, f"{DEMO_KEY[:-2]}{index:02d}")
    keyring.get_keyring().set_password("autre-application", entry_name(*NETWORK[5]), "x")
    store = SecretStore(real_keyring / "c.toml")
    store.prefetch(NETWORK)
    # Everything comes from the one read: a read per key would now fail loudly.
    monkeypatch.setattr(
        type(keyring.get_keyring()), "get_password", lambda *a: pytest.fail("lecture une à une")
    )
    for index, (uai, siret) in enumerate(present):
        found = store.get(uai, siret)
        assert (found.value, found.backend) == (f"{DEMO_KEY[:-2]}{index:02d}", "keyring")
    for uai, siret in NETWORK[5:]:  # another application's entry is not ours
        with pytest.raises(SecretNotFoundError):
            store.get(uai, siret)
        assert store.copies(uai, siret).places == []
    assert store.copies(*present[0]).places == ["keyring"]


@pytest.mark.secret_service
def test_a_write_after_the_batch_read_is_seen(real_keyring: Path) -> None:
    store = SecretStore(real_keyring / "c.toml")
    store.prefetch(NETWORK[:2])
    with pytest.raises(SecretNotFoundError):
        store.get(*NETWORK[0])
    store.store(*NETWORK[0], DEMO_KEY)
    assert store.get(*NETWORK[0]).value == DEMO_KEY
    assert store.delete(*NETWORK[0])
    with pytest.raises(SecretNotFoundError):
        store.get(*NETWORK[0])


@pytest.mark.secret_service
def test_batch_read_of_a_locked_keyring_is_explained(real_keyring: Path) -> None:
    SecretStore(real_keyring / "c.toml").store(*NETWORK[0], DEMO_KEY)
    collection = keyring.get_keyring().get_preferred_collection()  # type: ignore[attr-defined]
    collection.lock()
    assert collection.is_locked()
    store = SecretStore(real_keyring / "c.toml", timeout=5)
    store.prefetch(NETWORK[:3])
    for couple in NETWORK[:3]:  # each establishment is told, as a single read would
        with pytest.raises(KeyringUnavailableError, match="verrouillé") as caught:
            store.get(*couple)
        assert caught.value.reason == "locked"


@pytest.mark.secret_service
def test_batch_read_of_a_hung_keyring_times_out(real_keyring: Path) -> None:
    import signal

    SecretStore(real_keyring / "c.toml").store(*NETWORK[0], DEMO_KEY)
    daemon = keyring_daemon_pid(dict(os.environ))
    os.kill(daemon, signal.SIGSTOP)
    try:
        store = SecretStore(real_keyring / "c.toml", timeout=0.5)
        store.prefetch(NETWORK[:3])
        for couple in NETWORK[:3]:
            with pytest.raises(KeyringUnavailableError, match=r"0\.5 s") as caught:
                store.get(*couple)
            assert caught.value.reason == "timeout"
    finally:
        os.kill(daemon, signal.SIGCONT)

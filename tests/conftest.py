"""Shared fixtures: every test runs in its own profile with an in-memory keyring."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from tdba_wizard.sandbox import Organisme, Sandbox
from tdba_wizard.schedule import Crontab

from .secret_service import require, secret_service

DEMO_KEY = "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d"
OTHER_KEY = "9f8e7d6c-5b4a-4392-a1b0-c9d8e7f6a5b4"


class MemoryKeyring(KeyringBackend):
    """A keyring that lives in the test process only."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.entries[(service, username)]
        except KeyError:
            raise PasswordDeleteError("not found") from None


@pytest.fixture(autouse=True)
def isolated_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point every platform directory at ``tmp_path`` and clear the tool's variables."""
    home = tmp_path / "home"
    home.mkdir()
    for name, sub in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CACHE_HOME", ".cache"),
    ):
        monkeypatch.setenv(name, str(home / sub))
    for name in list(os.environ):
        if name.startswith("TDBA_"):
            monkeypatch.delenv(name)
    yield home


@pytest.fixture(autouse=True)
def memory_keyring(request: pytest.FixtureRequest) -> Iterator[MemoryKeyring | None]:
    """Use an in-memory keyring, unless the test talks to a real Secret Service."""
    if request.node.get_closest_marker("secret_service"):
        yield None
        return
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def real_keyring(isolated_profile: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """gnome-keyring on its own bus, chosen as the keyring; yields the profile."""
    from keyring.backends import SecretService

    with secret_service(isolated_profile) as env:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", env["DBUS_SESSION_BUS_ADDRESS"])
        previous = keyring.get_keyring()
        keyring.set_keyring(SecretService.Keyring())
        try:
            yield isolated_profile
        finally:
            keyring.set_keyring(previous)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A sandbox API served on 127.0.0.1 in a background thread."""
    with Sandbox() as server:
        yield server


def demo(sandbox: Sandbox, index: int = 0) -> Organisme:
    """Return one of the sandbox's demo organismes (0: open, responsable_formateur)."""
    return sandbox.organismes[index]


def run_python(script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a fresh interpreter (what it imports starts from nothing)."""
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )


def valid_record(organisme: Organisme, erp_id: str = "A1", **changes: object) -> dict[str, object]:
    """Return a v3 record TDBA accepts, for ``organisme`` as responsable and formateur."""
    record: dict[str, object] = {
        "nom_apprenant": "Martin",
        "prenom_apprenant": "Léa",
        "date_de_naissance_apprenant": "2005-04-12",
        "annee_scolaire": "2025-2026",
        "id_erp_apprenant": erp_id,
        "date_inscription_formation": "2025-07-01",
        "date_entree_formation": "2025-09-01",
        "date_fin_formation": "2027-06-30",
        "etablissement_responsable_uai": organisme.uai,
        "etablissement_responsable_siret": organisme.siret,
        "etablissement_formateur_uai": organisme.uai,
        "etablissement_formateur_siret": organisme.siret,
        "statut_apprenant": 3,
    }
    record.update(changes)
    return record


@pytest.fixture
def user_crontab() -> Iterator[Crontab]:
    """The real crontab of the user running the tests, saved and restored."""
    require("crontab")
    crontab = Crontab()
    saved = crontab.read()
    had_one = subprocess.run(["crontab", "-l"], capture_output=True, check=False).returncode == 0
    yield crontab
    if had_one:
        subprocess.run(["crontab", "-"], input=saved, check=True, timeout=20)
    else:
        subprocess.run(["crontab", "-r"], capture_output=True, check=False, timeout=20)

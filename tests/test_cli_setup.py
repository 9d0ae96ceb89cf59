"""Scripting commands: add, remove, list (in-process, in-memory keyring)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tdba_wizard.cli import main
from tdba_wizard.config import load_config
from tdba_wizard.paths import default_config_path
from tdba_wizard.secrets import SERVICE

from .conftest import DEMO_KEY, OTHER_KEY, MemoryKeyring
from .secret_service import secret_service

ADD = ["add", "--name", "CFA 1", "--siret", "77937827200016", "--uai", "0802004U"]
ADD += ["--sentite", "1443191", "--api-key-stdin", "--yes"]


def run(
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def snapshot_files(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_add_then_list(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring: MemoryKeyring,
    isolated_profile: Path,
) -> None:
    code, out, err = run(ADD, capsys, monkeypatch, stdin=f"  {DEMO_KEY}\n")
    assert (code, err) == (0, "")
    assert "« CFA 1 » ajouté" in out
    assert "1b2c3d4e-••••-••••-••••-••••••••4c5d" in out
    assert DEMO_KEY not in out
    config = load_config(default_config_path())
    assert [e.uai for e in config.establishments] == ["0802004U"]
    assert memory_keyring.entries == {(SERVICE, "0802004U-77937827200016"): DEMO_KEY}
    for content in snapshot_files(isolated_profile).values():
        assert DEMO_KEY.encode() not in content

    code, out, _ = run(["list"], capsys, monkeypatch)
    assert code == 0
    assert "CFA 1" in out and "SENTITE 1443191" in out and "✔ clé" in out
    code, out, _ = run(["list", "--json"], capsys, monkeypatch)
    data = json.loads(out)
    assert data["establishments"][0]["key"]["backend"] == "keyring"
    assert DEMO_KEY not in out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--siret", "77937827200017"), "clé de contrôle"),
        (("--uai", "0951099C"), "devrait être D"),
        (("--sentite", "abc"), "--sentite"),
        (("--sentite", "0"), "--sentite"),
        (("--name", " "), "le nom ne peut pas être vide"),
    ],
)
def test_bad_input_changes_nothing(
    change: tuple[str, str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring: MemoryKeyring,
    isolated_profile: Path,
) -> None:
    argv = list(ADD)
    argv[argv.index(change[0]) + 1] = change[1]
    code, _, err = run(argv, capsys, monkeypatch, stdin=DEMO_KEY)
    assert code != 0
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert memory_keyring.entries == {}
    assert snapshot_files(isolated_profile) == {}


def test_non_uuid_key_is_refused(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring: MemoryKeyring,
) -> None:
    code, _, err = run(ADD, capsys, monkeypatch, stdin="not-a-key-at-all")
    assert code == 1
    assert "La clé d'échange doit comporter 36 caractères" in err
    assert "not-a-key" not in err
    assert memory_keyring.entries == {}
    assert not default_config_path().exists()


def test_key_in_argv_is_refused_without_echo(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = [a for a in ADD if a != "--api-key-stdin"] + ["--api-key", DEMO_KEY]
    code, out, err = run(argv, capsys, monkeypatch)
    assert code == 2
    assert "ne se passe jamais en argument" in err
    assert DEMO_KEY not in out + err
    code, out, err = run([*ADD, DEMO_KEY], capsys, monkeypatch)
    assert code == 2 and "arguments inconnus" in err and DEMO_KEY not in out + err


def test_duplicate_couple_changes_nothing(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring: MemoryKeyring,
) -> None:
    assert run(ADD, capsys, monkeypatch, stdin=DEMO_KEY)[0] == 0
    before = default_config_path().read_bytes()
    code, _, err = run(ADD, capsys, monkeypatch, stdin=OTHER_KEY)
    assert code == 1
    assert "est déjà configuré" in err
    assert default_config_path().read_bytes() == before
    assert list(memory_keyring.entries.values()) == [DEMO_KEY]


def test_malformed_config_changes_nothing(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring: MemoryKeyring,
) -> None:
    path = default_config_path()
    path.parent.mkdir(parents=True)
    path.write_text("[api\nurl = 1\n", encoding="utf-8")
    code, _, err = run(ADD, capsys, monkeypatch, stdin=DEMO_KEY)
    assert code == 1
    assert "erreur de syntaxe TOML (ligne 1" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert path.read_text(encoding="utf-8") == "[api\nurl = 1\n"
    assert memory_keyring.entries == {}


def test_dry_run_writes_nothing(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring: MemoryKeyring,
    isolated_profile: Path,
) -> None:
    code, out, _ = run([*ADD, "--dry-run"], capsys, monkeypatch, stdin=DEMO_KEY)
    assert code == 0
    assert "Simulation (--dry-run) : rien n'est écrit" in out
    assert "  + « CFA 1 »\n      UAI 0802004U · SIRET 77937827200016 · CFA_SENTITE 1443191" in out
    assert "entrée 0802004U-77937827200016" in out
    assert DEMO_KEY not in out
    assert memory_keyring.entries == {}
    assert snapshot_files(isolated_profile) == {}


def test_secret_store_file_and_remove(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring: MemoryKeyring,
) -> None:
    code, out, _ = run([*ADD, "--secret-store", "file"], capsys, monkeypatch, stdin=DEMO_KEY)
    assert code == 0 and "fichier de clés" in out
    credentials = default_config_path().with_name("credentials.toml")
    assert oct(credentials.stat().st_mode & 0o777) == "0o600"
    assert DEMO_KEY not in default_config_path().read_text(encoding="utf-8")
    code, out, _ = run(["remove", "--uai", "0802004u", "--yes"], capsys, monkeypatch)
    assert code == 0
    assert "Clé d'échange de « CFA 1 » supprimée du fichier de clés" in out
    assert "« CFA 1 » retiré." in out
    assert load_config(default_config_path()).establishments == []
    assert DEMO_KEY not in credentials.read_text(encoding="utf-8")


def test_remove_unknown_and_ambiguous(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(ADD, capsys, monkeypatch, stdin=DEMO_KEY)[0] == 0
    second = list(ADD)
    second[second.index("--siret") + 1] = "13002526500013"
    assert run(second, capsys, monkeypatch, stdin=OTHER_KEY)[0] == 0
    code, _, err = run(["remove", "--uai", "0802004U", "--yes"], capsys, monkeypatch)
    assert code == 1 and "précisez lequel avec --siret" in err
    code, _, err = run(["remove", "--uai", "0755805C", "--yes"], capsys, monkeypatch)
    assert code == 1 and "Aucun établissement configuré" in err
    code, _, _ = run(
        ["remove", "--uai", "0802004U", "--siret", "13002526500013", "--yes"], capsys, monkeypatch
    )
    assert code == 0
    assert [e.siret for e in load_config(default_config_path()).establishments] == [
        "77937827200016"
    ]


def test_help_and_version_are_french(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(["--help"], capsys, monkeypatch)
    assert code == 0 and "utilisation : tdba-wizard" in out and "afficher cette aide" in out
    code, out, _ = run(["--version"], capsys, monkeypatch)
    assert code == 0 and out.startswith("tdba-wizard ")
    code, _, err = run(["add"], capsys, monkeypatch)
    assert code == 2 and "arguments obligatoires manquants" in err


@pytest.mark.secret_service
def test_console_script_with_real_secret_service(isolated_profile: Path) -> None:
    """The installed program stores the key in a real Secret Service, and nowhere on disk."""
    with secret_service(isolated_profile) as env:
        for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME"):
            env[name] = os.environ[name]
        result = subprocess.run(
            [sys.executable, "-m", "tdba_wizard", *ADD],
            input=DEMO_KEY,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "Secret Service" in result.stdout
        listed = subprocess.run(
            [sys.executable, "-m", "tdba_wizard", "list", "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert json.loads(listed.stdout)["establishments"][0]["key"]["backend"] == "keyring"
        for path, content in snapshot_files(isolated_profile).items():
            assert DEMO_KEY.encode() not in content, path
        removed = subprocess.run(
            [sys.executable, "-m", "tdba_wizard", "remove", "--uai", "0802004U", "--yes"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert removed.returncode == 0, removed.stderr
        assert "supprimée du trousseau Secret Service" in removed.stdout


def test_no_terminal_no_interface(isolated_profile: Path) -> None:
    """Without a terminal the wizard does not start (it used to burn a core until killed)."""
    result = subprocess.run(
        [sys.executable, "-m", "tdba_wizard"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "a besoin d'un terminal interactif" in result.stderr
    assert "tdba-wizard --check" in result.stderr and result.stdout == ""


@pytest.mark.parametrize(
    "flag", [["--json"], ["--quiet"], ["--cron-env"], ["--uai", "0802004U"]], ids=" ".join
)
def test_check_options_without_check_are_usage_errors(
    flag: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run(flag, capsys, monkeypatch)
    assert code == 2 and out == ""
    assert f"{flag[0]} ne s'emploie qu'avec --check" in err

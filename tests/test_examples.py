"""The sample exports of examples/, and the README's walkthrough run against the sandbox."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tdba_wizard.nightly.exports import Findings
from tdba_wizard.nightly.reading import Tally, read_and_validate
from tdba_wizard.records.dossier import judge
from tdba_wizard.sandbox import Sandbox

ROOT = Path(__file__).parents[1]
EXAMPLES = ("export.csv", "export.xlsx", "export.json")


def stored(name: str) -> list[dict[str, object]]:
    """The records of an example as TDBA keeps them (its rules applied), none refused."""
    tally, findings = Tally(), Findings()
    path = ROOT / "examples" / name
    records = [r for block, _ in read_and_validate(path, tally, findings) for r in block]
    assert (tally.rows_read, tally.rejected, findings.header) == (5, 0, [])
    assert not tally.notes, tally.notes  # nothing TDBA would change without a word
    return [judge(record).output for record in records]


def test_the_three_examples_hold_the_same_five_valid_records() -> None:
    csv, xlsx, json = (stored(name) for name in EXAMPLES)
    assert csv == xlsx == json
    assert [r["id_erp_apprenant"] for r in csv] == [f"AMM-{n}" for n in range(1001, 1006)]
    assert (ROOT / "examples" / "export.csv").read_bytes().count(b"\r\n") == 6  # as a tableur
    with pytest.raises(UnicodeDecodeError):  # Windows-1252, as a French office suite writes it
        (ROOT / "examples" / "export.csv").read_bytes().decode("utf-8")


def walkthrough() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- walkthrough -->\n```sh\n(.*?)```\n<!-- /walkthrough -->", text, re.S)
    assert found is not None, "README.md : parcours introuvable"
    lines = re.sub(r"\\\n\s*", "", found[1]).splitlines()
    # A comment alone on its line goes on with the comment of the command before it.
    commands: list[str] = []
    for line in lines:
        if line.lstrip().startswith("#") and commands:
            commands[-1] += " " + line.strip()
        else:
            commands.append(line)
    return commands


def test_the_readme_walkthrough_runs_against_the_sandbox(sandbox: Sandbox) -> None:
    port = sandbox.url.split(":")[2].split("/")[0]
    environment = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    environment.pop("DBUS_SESSION_BUS_ADDRESS", None)  # as on a server: the file store
    ran = []
    for line in walkthrough():
        command, _, comment = line.partition("  #")
        command = command.strip()
        if command.startswith(("tdba-wizard sandbox", "kill ")):
            continue  # the test serves the sandbox itself
        expected = re.search(r"\(code (\d)\)", comment)
        done = subprocess.run(
            ["bash", "-c", command.replace("8123", port)],
            cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == (int(expected[1]) if expected else 0), (
            command, done.stdout, done.stderr
        )  # fmt: skip
        words = command.split()
        ran.append(words[words.index("tdba-wizard") + 1])
        if command == "tdba-wizard sync":
            assert "Envoyées : 5 ; acceptées par TDBA : 5 ; refusées par TDBA : 0" in done.stdout
            assert len(sandbox.records()) == 5
        if command == "tdba-wizard sync --dry-run":
            assert "Lignes lues : 5" in done.stdout and "Refusées avant envoi : 0" in done.stdout
        if command.startswith("tdba-wizard remove"):  # no keyring here: it says so, and how
            assert "⚠ Trousseau non vérifié : Le trousseau du système n'est pas joignable" in (
                done.stderr
            )
            assert "secret-tool clear service tdba-wizard username 0802004U-48401246400091" in (
                done.stderr
            )
        if command == "tdba-wizard --check":
            assert "⚠ Aucune tâche de nuit installée." in done.stdout
    assert ran == ["add", "sync", "sync", "--check", "history", "remove"]
    assert (
        not (Path(os.environ["XDG_CONFIG_HOME"]) / "tdba-wizard" / "credentials.toml")
        .read_text(encoding="utf-8")
        .count("7a72e3b6")
    )  # removed: its key too


def test_the_readme_configuration_example_is_valid() -> None:
    import tomllib

    from tdba_wizard.config import Config

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- config-example -->\n```toml\n(.*?)```\n", text, re.S)
    assert found is not None, "README.md : exemple de configuration introuvable"
    config = Config.model_validate(tomllib.loads(found[1]))
    assert [e.transmission for e in config.establishments] == ["export", "erp"]
    assert config.schedule.smtp is not None and config.schedule.smtp.port == 587

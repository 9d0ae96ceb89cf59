"""Fault injection for the nightly job: hostile exports, broken machines, a stuck run.

Each test is one case of issue #13, run through the real command (``main(["sync"])``), the
real reading process and the sandbox over real HTTP. What is checked each time: the verdict
and the exit code are true, nothing is dropped without a word, nothing hangs, no traceback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tdba_wizard.cli import main
from tdba_wizard.config import Config, ConfigError, load_config, save_config
from tdba_wizard.nightly.job import SyncOptions, run_sync
from tdba_wizard.paths import default_config_path, state_dir
from tdba_wizard.sandbox import Failure, Sandbox
from tdba_wizard.secrets import SecretStore
from tdba_wizard.state import load_last_sync

from .conftest import valid_record
from .test_sync import export_path, records, setup, with_second, with_source, write_csv

__all__ = ["setup"]  # the fixture, used by name

Setup = tuple[Sandbox, Config, SecretStore]


def columns_of(rows: list[dict[str, Any]]) -> list[str]:
    return sorted({key for row in rows for key in row})


def csv_text(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    columns = columns or columns_of(rows)
    lines = [";".join(columns)]
    lines += [";".join(str(row.get(c, "")) for c in columns) for row in rows]
    return "\n".join(lines) + "\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["sync", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def last_entry() -> dict[str, Any]:
    last = load_last_sync(state_dir())
    [entry] = last["establishments"].values()
    return dict(entry)


# -- « OK » when nothing was sent ---------------------------------------------------------


def test_every_row_refused_for_a_misspelled_required_column_is_critical(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, config, _ = setup
    rows = records(sandbox, 30)
    text = csv_text(rows).replace("nom_apprenant", "nom_aprenant", 1)  # in the header only
    export_path(config).write_text(text, encoding="utf-8")
    code, out, _ = run(capsys)
    assert code == 2
    assert "— CRITICAL" in out
    assert "Colonne inconnue de TDBA, ignorée : « nom_aprenant »" in out
    assert "vouliez-vous dire « nom_apprenant » ?" in out
    # The missing column is said once, not once per row.
    assert out.count("nom_apprenant : Champ obligatoire") == 0
    assert "Colonne(s) obligatoire(s) absente(s) de l'en-tête : nom_apprenant" in out
    assert "Rien n'a été transmis alors que l'export compte 30 lignes." in out
    entry = last_entry()
    assert entry["verdict"] == "CRITICAL" and entry["last_success"] is None
    assert sandbox.records() == []
    assert main(["--check", "--json"]) == 2  # monitoring turns red


def test_a_header_without_rows_is_a_warning_not_a_success(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, config, _ = setup
    export_path(config).write_text(csv_text([], columns_of(records(sandbox, 1))))
    code, out, _ = run(capsys)
    assert code == 1 and "Export vide : aucune ligne à transmettre." in out
    assert last_entry()["last_success"] is None


def test_utf16_with_its_bom_is_read(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    sandbox, config, _ = setup
    export_path(config).write_bytes(csv_text(records(sandbox, 3)).encode("utf-16"))
    code, out, _ = run(capsys)
    assert code == 0, out
    assert len(sandbox.records()) == 3


def test_utf16_without_bom_is_refused_with_the_reason(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, config, _ = setup
    export_path(config).write_bytes(csv_text(records(sandbox, 3)).encode("utf-16-le"))
    code, out, _ = run(capsys)
    assert code == 2
    assert "octets nuls" in out and "UTF-16 sans marque d'ordre (BOM)" in out


# -- rows that vanished without a word -----------------------------------------------------


def test_an_unclosed_quote_is_reported_with_the_lines_it_swallows(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, config, _ = setup
    rows = records(sandbox, 12)
    columns = columns_of(rows)
    lines = csv_text(rows, columns).splitlines()
    position = columns.index("nom_apprenant")
    cells = lines[2].split(";")  # the 2nd record, line 3 of the file
    cells[position] = '"Martin'  # opened, never closed
    lines[2] = ";".join(cells)
    export_path(config).write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, _ = run(capsys)
    assert code == 1
    assert "guillemet non fermé : les lignes 3 à 13 forment un seul enregistrement" in out
    stored = sorted(r["id_erp_apprenant"] for r in sandbox.records())
    assert stored == ["E0"]  # line 2; lines 3 to 13 are refused, and said to be


def test_a_misspelled_optional_column_is_named_with_the_field_meant(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, config, _ = setup
    rows = records(sandbox, 5, email="lea@example.fr")
    write_csv(export_path(config), rows)
    code, out, _ = run(capsys)
    assert code == 1  # sent and accepted, but a column was ignored: WARNING
    assert "Colonne inconnue de TDBA, ignorée : « email »" in out
    assert "vouliez-vous dire « email_contact » ?" in out
    assert len(sandbox.records()) == 5


def test_mixed_encodings_are_read_line_by_line_and_said(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, config, _ = setup
    rows = records(sandbox, 4, prenom_apprenant="Léa")
    lines = csv_text(rows).splitlines()
    data = b"\n".join(
        line.encode("cp1252" if index == 3 else "utf-8") for index, line in enumerate(lines)
    )
    data += b"\n" + lines[1].replace("E0", "E9").replace("Léa", "L\x81a").encode("latin-1")
    export_path(config).write_bytes(data + b"\n")
    code, out, _ = run(capsys)
    assert code == 1
    assert "Encodage mélangé : 1 ligne(s) ne sont pas en UTF-8" in out and "(l. 4)" in out
    assert "caractères illisibles (ni UTF-8 ni Windows-1252)" in out  # the 0x81 line
    stored = {r["id_erp_apprenant"]: r["prenom_apprenant"] for r in sandbox.records()}
    assert stored == {"E0": "Léa", "E1": "Léa", "E2": "Léa", "E3": "Léa"}  # no mojibake


def test_duplicate_tdba_columns_are_refused(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, config, _ = setup
    text = csv_text(records(sandbox, 3))
    header, rest = text.split("\n", 1)
    export_path(config).write_text(header + ";nom_apprenant\n" + rest, encoding="utf-8")
    code, out, _ = run(capsys)
    assert code == 2
    assert "colonnes en double dans l'en-tête : « nom_apprenant »" in out
    assert sandbox.records() == []


# -- it can hang forever -------------------------------------------------------------------


def test_an_xlsx_declaring_the_whole_sheet_is_read_by_its_data(
    setup: Setup, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    sandbox, config, _ = setup
    rows = records(sandbox, 3)
    columns = columns_of(rows)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(columns)
    for row in rows:
        sheet.append([row.get(c) for c in columns])
    sheet["XFD1048576"] = "x"  # the dimension becomes A1:XFD1048576
    xlsx = tmp_path / "export-1443191.xlsx"
    workbook.save(xlsx)
    save_config(default_config_path(), with_source(config, str(tmp_path / "export-{sentite}.xlsx")))
    started = time.monotonic()
    code, out, _ = run(capsys)
    assert time.monotonic() - started < 60, "bounded by the cells that hold data"
    assert code == 0, out
    assert len(sandbox.records()) == 3


def test_a_lone_surrogate_in_a_large_json_does_not_block(
    setup: Setup, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sandbox, config, _ = setup
    rows = records(sandbox, 2500)
    rows[10]["id_erp_apprenant"] = "E\ud800X"
    json_path = tmp_path / "export-1443191.json"
    json_path.write_text(json.dumps(rows), encoding="utf-8")  # the \ud800 escape, as is
    save_config(default_config_path(), with_source(config, str(tmp_path / "export-{sentite}.json")))
    code, out, _ = run(capsys)
    assert code == 0, out
    assert len(sandbox.records()) == 2500


def test_the_cause_of_a_reading_that_fails_is_said(
    setup: Setup, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sandbox, config, _ = setup
    deep = "[" * 100_000 + "]" * 100_000
    json_path = tmp_path / "export-1443191.json"
    json_path.write_text(f"[{json.dumps(records(sandbox, 1)[0])}, {deep}]", encoding="utf-8")
    save_config(default_config_path(), with_source(config, str(tmp_path / "export-{sentite}.json")))
    code, out, _ = run(capsys)
    assert code == 2  # the export could not be read to its end
    assert "structure JSON trop imbriquée" in out and "interrompue après 1 ligne" in out
    assert len(sandbox.records()) == 1  # what was read before went


def test_an_establishment_past_its_deadline_is_stopped_and_said(setup: Setup) -> None:
    sandbox, config, store = setup
    write_csv(export_path(config), records(sandbox, 50))
    sandbox.latency = 3.0
    options = SyncOptions(base_delay=0.01, max_attempts=1, establishment_deadline=1.0)
    started = time.monotonic()
    report = asyncio.run(run_sync(config, store, state_dir(), options))
    assert time.monotonic() - started < 15
    [e] = report.establishments
    assert e.level == "CRITICAL"
    assert any("Délai dépassé" in error for error in e.errors)


def test_an_establishment_past_the_run_deadline_is_not_started(
    setup: Setup, tmp_path: Path
) -> None:
    sandbox, config, store = setup
    second = sandbox.organismes[1]
    config = with_second(config, sandbox, str(tmp_path / "other-{sentite}.csv"))
    store.store(second.uai, second.siret, second.demo_key, "file")
    write_csv(export_path(config), records(sandbox, 5))
    sandbox.latency = 2.0
    # One at a time: the second waits for its turn, which comes past the run's deadline.
    options = SyncOptions(base_delay=0.01, max_attempts=1, deadline=1.0, at_once=1)
    report = asyncio.run(run_sync(config, store, state_dir(), options))
    first, later = report.establishments
    assert any("Délai dépassé" in error for error in first.errors)
    assert any("Non traité : le délai de l'envoi" in error for error in later.errors)
    # Sent together, both are stopped by the run's deadline.
    both = dataclasses.replace(options, at_once=2)
    report = asyncio.run(run_sync(config, store, state_dir(), both))
    assert all(any("Délai dépassé" in e for e in one.errors) for one in report.establishments)


def test_a_lock_held_past_its_deadline_is_taken_over(
    setup: Setup, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import datetime as dt

    sandbox, config, _ = setup
    write_csv(export_path(config), records(sandbox, 2))
    lock = state_dir() / "sync.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    script = tmp_path / "tdba_wizard_stuck.py"
    script.write_text(
        "import fcntl, sys, time\n"
        "handle = open(sys.argv[1], 'a+')\n"
        "fcntl.flock(handle, fcntl.LOCK_EX)\n"
        "print('pris', flush=True)\n"
        "time.sleep(600)\n"
    )
    stuck = subprocess.Popen(
        [sys.executable, str(script), str(lock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert stuck.stdout is not None and stuck.stdout.readline().strip() == "pris"
        # Within its deadline: this run stops, names the holder, exit 1.
        started = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        lock.write_text(json.dumps(
            {"pid": stuck.pid, "started": started.isoformat(), "deadline_seconds": 3600}
        ))  # fmt: skip
        code, _, err = run(capsys)
        assert code == 1 and f"processus {stuck.pid}, depuis 5 min" in err
        assert stuck.poll() is None
        # Far past it: stopped, taken over, said in the report.
        started = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
        lock.write_text(json.dumps(
            {"pid": stuck.pid, "started": started.isoformat(), "deadline_seconds": 3600}
        ))  # fmt: skip
        code, out, _ = run(capsys)
        assert stuck.wait(timeout=30) is not None
        assert "tenait encore le verrou bien après son délai (60 min)" in out
        assert code == 1  # sent and accepted, with a warning
        assert len(sandbox.records()) == 2
    finally:
        if stuck.poll() is None:
            stuck.kill()
        stuck.wait()


# -- tracebacks and lost reports -----------------------------------------------------------


def test_a_state_dir_that_cannot_be_written_stops_before_anything_is_sent(
    setup: Setup, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sandbox, config, _ = setup
    write_csv(export_path(config), records(sandbox, 3))
    blocker = tmp_path / "un-fichier"
    blocker.write_text("x")
    code = main(["--state-dir", str(blocker / "etat"), "sync"])
    out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in out + err
    assert "n'est pas inscriptible" in err and "Rien n'a été envoyé" in err
    assert sandbox.records() == []


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real, tiny filesystem (tmpfs), to fill."""
    mount = tmp_path / "petit-disque"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        reason = f"pas de tmpfs à remplir ici ({done.stderr.strip() or 'mount refusé'})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " — CI tourne en root et doit le permettre")
        pytest.skip(reason)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> None:
    with (directory / "remplissage").open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass


def test_a_full_disk_is_found_before_reading(
    setup: Setup, capsys: pytest.CaptureFixture[str], small_disk: Path
) -> None:
    sandbox, config, _ = setup
    write_csv(export_path(config), records(sandbox, 3))
    code = main(["--state-dir", str(small_disk / "etat"), "sync"])
    out, err = capsys.readouterr()
    assert code == 2 and "Plus assez de place" in err and "Traceback" not in out + err
    assert sandbox.records() == []


def test_a_disk_full_after_sending_keeps_the_verdict_true(
    setup: Setup,
    capsys: pytest.CaptureFixture[str],
    small_disk: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The disk fills during the run: the records went, the report cannot be written; the
    report is printed (the cron log is elsewhere), the verdict says CRITICAL."""
    from tdba_wizard.nightly import preflight

    sandbox, config, _ = setup
    write_csv(export_path(config), records(sandbox, 3))
    monkeypatch.setattr(preflight, "state_dir_problem", lambda *args: None)
    (small_disk / "etat").mkdir()
    fill(small_disk)
    code = main(["--state-dir", str(small_disk / "etat"), "sync"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code == 2 and "Rapport non enregistré" in out
    assert len(sandbox.records()) == 3


def test_tdba_failing_and_a_full_disk_lose_nothing_silently(
    setup: Setup,
    capsys: pytest.CaptureFixture[str],
    small_disk: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tdba_wizard.nightly import preflight

    sandbox, config, store = setup
    write_csv(export_path(config), records(sandbox, 5))
    monkeypatch.setattr(preflight, "state_dir_problem", lambda *args: None)
    sandbox.inject(Failure("500", count=50, path="/api/v3/dossiers-apprenants"))
    (small_disk / "etat").mkdir()
    fill(small_disk)
    options = SyncOptions(base_delay=0.01, max_attempts=2)
    report = asyncio.run(run_sync(config, store, small_disk / "etat", options))
    [e] = report.establishments
    assert e.level == "CRITICAL" and e.spooled == 0
    assert any("ni transmis ni conservés" in error for error in e.errors)


def test_a_malformed_key_stops_only_its_establishment(
    setup: Setup, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sandbox, config, store = setup
    second = sandbox.organismes[1]
    two = with_second(config, sandbox, str(tmp_path / "other-{sentite}.csv"))
    save_config(default_config_path(), two)
    first = config.establishments[0]
    bad = sandbox.organismes[0].demo_key[:-1] + "é"
    store.store(first.uai, first.siret, bad, "file")
    store.store(second.uai, second.siret, second.demo_key, "file")
    write_csv(export_path(config), records(sandbox, 2))
    write_csv(tmp_path / "other-2.csv", [valid_record(second, f"F{i}") for i in range(2)])
    code, out, _ = run(capsys)
    assert code == 2
    assert "Clé d'échange enregistrée mal formée" in out and bad not in out
    assert sorted(r["id_erp_apprenant"] for r in sandbox.records()) == ["F0", "F1"]


def test_a_damaged_spool_file_is_set_aside_and_said(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, config, _ = setup
    write_csv(export_path(config), records(sandbox, 2))
    first = config.establishments[0]
    spool = state_dir() / "spool" / f"{first.uai}-{first.siret}"
    spool.mkdir(parents=True)
    (spool / "1-1-2.json").write_text("{pas du json")
    body = json.dumps(records(sandbox, 3))
    (spool / "2-1-3.json").write_text(json.dumps({"refs": [[2, "E0"]], "body": body}))
    code, out, _ = run(capsys)
    assert code == 1
    assert out.count("Fichier en attente endommagé, mis de côté") == 2
    assert sorted(p.name for p in (spool / "quarantaine").iterdir()) == ["1-1-2.json", "2-1-3.json"]
    assert len(sandbox.records()) == 2
    code, out, _ = run(capsys)  # the next night: nothing left to block or to say
    assert code == 0 and "endommagé" not in out


# -- injection -----------------------------------------------------------------------------


def test_control_characters_and_huge_values_are_escaped_and_bounded(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, config, _ = setup
    rows = records(sandbox, 3)
    rows[0]["id_erp_apprenant"] = "E0\x1b]0;pirate\x07"
    rows[1]["id_erp_apprenant"] = "E1" + "z" * 20_000_000
    rows[1]["email_contact"] = "pas-un-email"  # refused: the id goes into the report
    rows[0]["email_contact"] = "aussi-faux"
    export = export_path(config)
    write_csv(export, rows)
    code, out, _ = run(capsys)
    assert code == 1
    assert "\x1b" not in out and "\x07" not in out and "\\x1b]0;pirate\\x07" in out
    assert len(out) < 20_000
    reports = list((state_dir() / "reports").iterdir())
    assert all(path.stat().st_size < 100_000 for path in reports)
    assert all(b"\x1b" not in path.read_bytes() for path in reports)
    assert len((state_dir() / "last-sync.json").read_bytes()) < 20_000


def test_sources_must_be_absolute_and_one_per_establishment(tmp_path: Path) -> None:
    config = default_config_path()
    config.parent.mkdir(parents=True)
    config.write_text(
        '[[establishments]]\nname = "A"\nsiret = "77937827200016"\nuai = "0802004U"\n'
        'sentite = 1\nsource = "exports/effectifs.csv"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="doit être absolu"):
        load_config(config)
    config.write_text(
        '[[establishments]]\nname = "A"\nsiret = "77937827200016"\nuai = "0802004U"\n'
        'sentite = 1\nsource = "/srv/effectifs.csv"\n\n'
        '[[establishments]]\nname = "B"\nsiret = "13002526500013"\nuai = "0755805C"\n'
        'sentite = 2\nsource = "/srv/effectifs.csv"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="lisent le même export"):
        load_config(config)
    config.write_text(
        '[[establishments]]\nname = "A"\nsiret = "77937827200016"\nuai = "0802004U"\n'
        'sentite = 1\nsource = "/srv/{sentite.__class__}.csv"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="variable inconnue"):
        load_config(config)


def test_adding_an_establishment_on_the_same_export_is_refused_in_french(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from .conftest import DEMO_KEY, OTHER_KEY

    for name, siret, uai, key in (
        ("A", "77937827200016", "0802004U", DEMO_KEY),
        ("B", "13002526500013", "0755805C", OTHER_KEY),
    ):
        monkeypatch.setattr(sys, "stdin", io.StringIO(key))
        code = main(["add", "--name", name, "--siret", siret, "--uai", uai, "--sentite", "1",
                     "--source", "/srv/effectifs.csv", "--api-key-stdin", "--secret-store",
                     "file", "--yes"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in out + err
    assert "lisent le même export (/srv/effectifs.csv)" in err and "Rien n'a été modifié" in err
    assert [e.name for e in load_config(default_config_path()).establishments] == ["A"]


# -- rows TDBA will not attach -------------------------------------------------------------


def test_partners_that_do_not_check_and_rows_of_others_are_counted(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, config, _ = setup
    rows = records(sandbox, 4)
    rows[0]["etablissement_formateur_uai"] = "0802004A"  # wrong check letter
    rows[1]["etablissement_responsable_siret"] = "77937827200017"  # wrong Luhn key
    other = sandbox.organismes[1]
    for name, value in (("uai", other.uai), ("siret", other.siret)):
        rows[2][f"etablissement_responsable_{name}"] = value
        rows[2][f"etablissement_formateur_{name}"] = value
    write_csv(export_path(config), rows)
    code, out, _ = run(capsys)
    assert code == 1
    assert "etablissement_formateur_uai : 0802004A n'a pas la bonne lettre clé" in out
    assert "l.2 (id E0)" in out
    assert "le SIRET 77937827200017 a une clé de contrôle fausse" in out
    assert "ni le responsable ni le formateur n'est UAI" in out and "l.4 (id E2)" in out


# -- random bytes --------------------------------------------------------------------------


def test_random_bytes_never_give_a_traceback(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    _, config, _ = setup
    export = export_path(config)
    config_text = default_config_path().read_bytes()

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        export_bytes=st.binary(max_size=2000),
        last_sync=st.binary(max_size=300),
        config_bytes=st.one_of(st.none(), st.binary(max_size=300)),
    )
    def one(export_bytes: bytes, last_sync: bytes, config_bytes: bytes | None) -> None:
        export.write_bytes(export_bytes)
        state = state_dir()
        state.mkdir(parents=True, exist_ok=True)
        (state / "last-sync.json").write_bytes(last_sync)
        default_config_path().write_bytes(config_bytes if config_bytes is not None else config_text)
        for argv in (["sync"], ["sync", "--dry-run"], ["--check", "--json"]):
            code = main(argv)
            out, err = capsys.readouterr()
            assert "Traceback" not in out + err, (argv, out, err)
            assert code in (0, 1, 2, 3)
        default_config_path().write_bytes(config_text)

    one()


def test_a_fifo_as_export_never_blocks(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    _, config, _ = setup
    os.mkfifo(export_path(config))  # opening it would wait for a writer, forever
    code, out, _ = run(capsys, "--dry-run")
    assert code == 2 and "n'est pas un fichier ordinaire" in out
    assert main(["--check", "--json"]) == 2
    document = json.loads(capsys.readouterr().out)
    export = next(c for c in document["establishments"][0]["checks"] if c["code"] == "export")
    assert export["status"] == "CRITICAL" and "pas un fichier ordinaire" in export["message"]

"""The nightly job against the sandbox over real HTTP: delivery, retries, spool, lock, report."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tdba_wizard.cli import main
from tdba_wizard.cli.sync import progress_printer
from tdba_wizard.config import Config, Establishment, save_config
from tdba_wizard.nightly import job as sync_module
from tdba_wizard.nightly import reading as reading_module
from tdba_wizard.nightly.batches import encode_batches
from tdba_wizard.nightly.frames import FRAME_HEADER
from tdba_wizard.nightly.job import SyncOptions, run_sync, sync_lock
from tdba_wizard.nightly.reading import ROW_BLOCK, Readers, ReadingProcess, stream
from tdba_wizard.nightly.report import SyncReport, render_text
from tdba_wizard.paths import credentials_path, default_config_path, state_dir
from tdba_wizard.records.dossier import FieldError
from tdba_wizard.records.rules import NOTE_DAY_ROLLED, NOTE_TRIMMED
from tdba_wizard.sandbox import Failure, Sandbox
from tdba_wizard.secrets import SecretStore
from tdba_wizard.state import load_last_sync

from .conftest import DEMO_KEY, run_python, valid_record

SEND = "/api/v3/dossiers-apprenants"
FAST = SyncOptions(base_delay=0.01, max_delay=2.0, max_attempts=3)
NAMES = ("MARTIN", "Léa")


def write_csv(
    path: Path, rows: list[dict[str, Any]], delimiter: str = ";", encoding: str = "utf-8"
) -> Path:
    columns = sorted({key for row in rows for key in row})
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow([f"{c} *" if c.startswith("date_") else c for c in columns])
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


@pytest.fixture
def setup(sandbox: Sandbox, tmp_path: Path) -> Iterator[tuple[Sandbox, Config, SecretStore]]:
    organisme = sandbox.organismes[0]
    establishment = Establishment(
        name="CFA 1",
        uai=organisme.uai,
        siret=organisme.siret,
        sentite=1443191,
        source=str(tmp_path / "export-{sentite}.csv"),
    )
    config = Config.model_validate(
        {"api": {"url": sandbox.url}, "establishments": [establishment.model_dump()]}
    )
    save_config(default_config_path(), config)
    store = SecretStore(credentials_path(default_config_path()))
    store.store(organisme.uai, organisme.siret, organisme.demo_key, "file")
    yield sandbox, config, store


def export_path(config: Config) -> Path:
    path = config.establishments[0].source_path()
    assert path is not None
    return path


def with_source(config: Config, source: str) -> Config:
    """The configuration with its establishment reading ``source`` instead."""
    data = config.model_dump()
    data["establishments"][0]["source"] = source
    return Config.model_validate(data)


def with_second(config: Config, sandbox: Sandbox, source: str) -> Config:
    """The configuration with a second establishment, « CFA 2 » (the sandbox's second
    organisme, SENTITE 2), reading ``source`` (its key is not stored)."""
    second = sandbox.organismes[1]
    data = config.model_dump()
    data["establishments"].append(
        {"name": "CFA 2", "uai": second.uai, "siret": second.siret, "sentite": 2,
         "source": source}
    )  # fmt: skip
    return Config.model_validate(data)


def records(sandbox: Sandbox, count: int, start: int = 0, **changes: Any) -> list[dict[str, Any]]:
    """Valid records of distinct learners (E{i} is learner n°i, « Martin i »)."""
    return [
        valid_record(sandbox.organismes[0], f"E{i}", **{"nom_apprenant": f"Martin {i}", **changes})
        for i in range(start, start + count)
    ]


def sync(config: Config, store: SecretStore, options: SyncOptions = FAST) -> SyncReport:
    return asyncio.run(run_sync(config, store, state_dir(), options))


def test_clean_run_in_several_batches(setup: tuple[Sandbox, Config, SecretStore]) -> None:
    sandbox, config, store = setup
    write_csv(export_path(config), records(sandbox, 4500))
    report = sync(config, store)
    [e] = report.establishments
    assert (e.rows_read, e.sent, e.accepted, e.spooled, e.level) == (4500, 4500, 4500, 0, "OK")
    assert report.ok
    assert len(sandbox.records()) == 4500
    posts = [r for r in sandbox.requests() if r[1] == "/api/v3/dossiers-apprenants"]
    assert len(posts) == 3  # 2000 + 2000 + 500


def test_batches_stay_under_the_byte_limit(setup: tuple[Sandbox, Config, SecretStore]) -> None:
    sandbox, config, store = setup
    write_csv(export_path(config), records(sandbox, 40))
    readers = Readers(max_bytes=4000)  # about 6 records
    report = asyncio.run(run_sync(config, store, state_dir(), FAST, readers=readers))
    [e] = report.establishments
    assert (e.rows_read, e.sent, e.accepted, e.level) == (40, 40, 40, "OK")
    assert sorted(r["id_erp_apprenant"] for r in sandbox.records()) == sorted(
        f"E{i}" for i in range(40)
    )
    posts = [r for r in sandbox.requests() if r[1] == SEND]
    assert len(posts) >= 8  # 40 records halved until each batch fits in 4000 bytes


def test_batch_encoding_splits_what_is_too_large() -> None:
    records_ = [{"id_erp_apprenant": f"E{i}", "texte": "x" * 30} for i in range(5)]
    refs = [(i + 2, f"E{i}") for i in range(5)]
    batches = list(encode_batches(records_, refs, max_bytes=100))
    assert [b.count for b in batches] == [1, 1, 1, 1, 1]
    assert [ref for b in batches for ref in b.refs] == refs
    assert [json.loads(b.body) for b in batches] == [[r] for r in records_]
    [whole] = encode_batches(records_, refs, max_bytes=10_000)
    assert whole.count == 5 and json.loads(whole.body) == records_


DYING_READER = """
import struct, subprocess, sys
order = sys.stdin.buffer.readline()  # the first order (the job keeps stdin open)
frames = subprocess.run(sys.argv[1:], input=order, capture_output=True, check=True).stdout
position = last = 0
while position < len(frames):  # keep every frame but the last one (the "end" frame)
    last = position
    (size,) = struct.unpack(">I", frames[position : position + 4])
    header = frames[position + 4 : position + 4 + size]
    body = int(header.rsplit(b'"size":', 1)[1].rstrip(b"}"))
    position += 4 + size + body
sys.stdout.buffer.write(frames[:last])
sys.exit(3)
"""


def test_a_reading_that_stops_midway_is_reported(
    setup: tuple[Sandbox, Config, SecretStore], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The export is read by a child process: if it dies before its last frame, what it sent
    # goes out and the report says that the reading stopped.
    sandbox, config, store = setup
    write_csv(export_path(config), records(sandbox, 2100))
    script = tmp_path / "dying_reader.py"
    script.write_text(DYING_READER)
    real = reading_module.reader_command
    monkeypatch.setattr(
        reading_module, "reader_command", lambda: [sys.executable, str(script), *real()]
    )
    report = sync(config, store)
    [e] = report.establishments
    assert (e.rows_read, e.sent, e.accepted) == (2100, 2100, 2100)  # the two batches went out
    assert e.level == "CRITICAL" and not report.ok
    assert any("s'est arrêtée sans finir (code 3)" in error for error in e.errors)
    assert len(sandbox.records()) == 2100


def test_frames_of_a_reading(sandbox: Sandbox, tmp_path: Path) -> None:
    rows = records(sandbox, 2300)
    rows[5]["email_contact"] = "lea@"
    path = write_csv(tmp_path / "export.csv", rows)
    out = io.BytesIO()
    stream(path, out, dry_run=False, max_bytes=10 * 1024 * 1024)
    frames = list(parse_frames(out.getvalue()))
    batches = [(h, body) for h, body in frames if h["kind"] == "batch"]
    assert [h["count"] for h, _ in batches] == [2000, 299]
    sent = [r["id_erp_apprenant"] for _, body in batches for r in json.loads(body)]
    assert sent == [f"E{i}" for i in range(2300) if i != 5]
    assert [ref for h, _ in batches for ref in h["refs"]][:6] == [
        [2, "E0"], [3, "E1"], [4, "E2"], [5, "E3"], [6, "E4"], [8, "E6"]
    ]  # fmt: skip
    *_, (end, _) = frames
    [pair] = end.pop("pairs")  # one (formateur, responsable) pair: the records' organisme
    assert pair["records"]["count"] == 2299 and pair["contracts"] == {}
    assert pair["formateur"] == [sandbox.organismes[0].uai, sandbox.organismes[0].siret]
    assert end.pop("duplicates") == {} and end.pop("unpaired") == 0
    assert end == {
        "kind": "end", "rows": 2300, "rejected": 1, "error": None, "size": 0,
        "reasons": {"email_contact : Email non valide": {"count": 1, "first": [[7, "E5"]]}},
        "notes": {}, "attention": {}, "header": [],
    }  # fmt: skip
    assert [h["rows"] for h, _ in frames] == sorted(h["rows"] for h, _ in frames)


def test_frames_of_an_unreadable_export(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("")
    out = io.BytesIO()
    stream(path, out, dry_run=True, max_bytes=1000)
    [(end, _)] = parse_frames(out.getvalue())
    assert end["kind"] == "end" and "fichier vide" in end["error"]


def reading_processes() -> list[int]:
    """Return the pids of this process's reading children still running (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        state, parent = stat[0], int(stat[1])
        if parent == os.getpid() and state != "Z" and b"tdba_wizard.nightly.reading" in command:
            found.append(int(entry.name))
    return found


def one_export(process: ReadingProcess) -> list[tuple[dict[str, Any], bytes]]:
    """The frames of the export a reading process was told to read, up to its end frame."""
    stdout = process.popen.stdout
    assert stdout is not None
    frames = []
    while True:
        (size,) = FRAME_HEADER.unpack(stdout.read(FRAME_HEADER.size))
        header = json.loads(stdout.read(size))
        frames.append((header, stdout.read(header["size"]) if header["size"] else b""))
        if header["kind"] == "end":
            return frames


def test_readers_read_the_first_exports_at_once_and_the_next_ones_in_turn(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    first = write_csv(tmp_path / "a.csv", records(sandbox, 3))
    second = write_csv(tmp_path / "b.csv", records(sandbox, 2, start=3))
    third = write_csv(tmp_path / "c.csv", records(sandbox, 1, start=5))
    readers = Readers(processes=2)
    try:
        assert len(reading_processes()) == 1  # loading its modules, no export known yet
        readers.begin([first, None, second, third], dry_run=False)
        readers.begin([first, None, second, third], dry_run=False)  # the same again: nothing new
        with pytest.raises(ValueError):
            readers.begin([second], dry_run=False)
        with pytest.raises(ValueError):
            readers.begin([first, None, second, third], dry_run=True)
        assert len(reading_processes()) == 2  # reading the first two exports, at most two
        process = readers.take(0)
        frames = one_export(process)
        assert [h["count"] for h, _ in frames if h["kind"] == "batch"] == [3]
        readers.give_back(process)  # read to the end: it reads the third export next
        again = readers.take(3)
        assert again is process and len(reading_processes()) == 2
        sent = [json.loads(body) for h, body in one_export(again) if h["kind"] == "batch"]
        assert [r["id_erp_apprenant"] for batch in sent for r in batch] == ["E5"]
        readers.give_back(again)
        sent = [json.loads(b) for h, b in one_export(readers.take(2)) if h["kind"] == "batch"]
        assert [r["id_erp_apprenant"] for batch in sent for r in batch] == ["E3", "E4"]
    finally:
        readers.close()
    assert reading_processes() == []


def test_a_reading_process_stopped_midway_is_replaced(sandbox: Sandbox, tmp_path: Path) -> None:
    first = write_csv(tmp_path / "a.csv", records(sandbox, 3000))
    second = write_csv(tmp_path / "b.csv", records(sandbox, 2, start=3000))
    readers = Readers(processes=1)
    try:
        readers.begin([first, second], dry_run=False)
        stopped = readers.take(0)
        stopped.close()  # e.g. its establishment's key was refused
        readers.give_back(stopped)  # not running: forgotten, never given another export
        process = readers.take(1)
        assert process is not stopped and reading_processes() == [process.popen.pid]
        sent = [json.loads(b) for h, b in one_export(process) if h["kind"] == "batch"]
        assert [r["id_erp_apprenant"] for batch in sent for r in batch] == ["E3000", "E3001"]
    finally:
        readers.close()
    assert reading_processes() == []


def test_an_establishment_without_key_does_not_hold_the_next_one_up(
    setup: tuple[Sandbox, Config, SecretStore], tmp_path: Path
) -> None:
    sandbox, config, store = setup
    first = sandbox.organismes[1]  # no key is stored for it
    keyless = Establishment(
        name="CFA sans clé", uai=first.uai, siret=first.siret, sentite=7,
        source=str(write_csv(tmp_path / "keyless.csv", records(sandbox, 3000))),
    )  # fmt: skip
    write_csv(export_path(config), records(sandbox, 5))
    second_name = config.establishments[0].name
    config = config.model_copy(update={"establishments": [keyless, *config.establishments]})
    running: list[int] = []

    def progress(name: str, read: int, sent: int, *, done: bool = False) -> None:
        if name == second_name and not running:
            running.append(len(reading_processes()))

    one_at_a_time = dataclasses.replace(FAST, at_once=1)
    report = asyncio.run(run_sync(config, store, state_dir(), one_at_a_time, progress))
    without_key, keyed = report.establishments
    assert without_key.level == "CRITICAL" and without_key.sent == 0
    assert (keyed.sent, keyed.accepted, keyed.level) == (5, 5, "OK")
    assert running == [1]  # the first export's reading (3000 rows, blocked) was stopped
    assert reading_processes() == []


def network(
    sandbox: Sandbox, tmp_path: Path, indexes: Iterable[int], rows: Callable[[int], int]
) -> list[Establishment]:
    """Establishments of the sandbox's organismes at ``indexes``, each with its export of
    ``rows(index)`` valid records (no key stored)."""
    establishments = []
    for index in indexes:
        organisme = sandbox.organismes[index]
        records_ = [
            valid_record(organisme, f"E{index}-{i}", nom_apprenant=f"Martin {index} {i}")
            for i in range(rows(index))
        ]
        export = write_csv(tmp_path / f"export-{index}.csv", records_)
        fields = {"uai": organisme.uai, "siret": organisme.siret, "source": str(export)}
        establishments.append(Establishment(name=f"CFA {index}", sentite=index + 1, **fields))
    return establishments


def test_establishments_are_sent_a_few_at_once_in_the_order_of_the_configuration(
    setup: tuple[Sandbox, Config, SecretStore], tmp_path: Path
) -> None:
    sandbox, config, store = setup
    # 5 establishments, each with its key and its export
    establishments = network(sandbox, tmp_path, (3, 0, 2, 5, 1), lambda index: 700 * (index + 1))
    for establishment, index in zip(establishments, (3, 0, 2, 5, 1), strict=True):
        store.store(establishment.uai, establishment.siret, sandbox.organismes[index].demo_key,
                    "file")  # fmt: skip
    config = config.model_copy(update={"establishments": establishments})
    running: set[str] = set()
    most: list[int] = [0, 0]  # establishments being sent at once, reading processes at once

    def progress(name: str, read: int, sent: int, *, done: bool = False) -> None:
        (running.discard if done else running.add)(name)
        most[:] = max(most[0], len(running)), max(most[1], len(reading_processes()))

    two_at_once = dataclasses.replace(FAST, at_once=2)
    report = asyncio.run(run_sync(config, store, state_dir(), two_at_once, progress))
    assert [e.name for e in report.establishments] == [e.name for e in establishments]
    assert [(e.sent, e.accepted, e.level) for e in report.establishments] == [
        (700 * (i + 1), 700 * (i + 1), "OK") for i in (3, 0, 2, 5, 1)
    ]
    assert most == [2, 2]  # two at once, never more, and one reading process each
    assert len(sandbox.records()) == 700 * (4 + 1 + 3 + 6 + 2)
    assert reading_processes() == []
    text = render_text(report)
    assert "\nÉtablissements envoyés par tdba-wizard : 5 (5 OK)\n" in text
    assert (
        "\nAu total : 11200 lignes lues ; 0 refusées avant envoi ; envoyées : 11200 ; acceptées "
        "par TDBA : 11200 ; refusées par TDBA : 0\n"
    ) in text


@pytest.mark.secret_service
def test_the_keys_of_a_network_are_read_from_the_keyring_in_one_go(
    setup: tuple[Sandbox, Config, SecretStore],
    real_keyring: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import keyring

    sandbox, config, _ = setup
    store = SecretStore(credentials_path(default_config_path()))
    establishments = network(sandbox, tmp_path, range(4), lambda index: 3)
    for organisme in sandbox.organismes[:3]:  # the fourth has no key
        stored = store.store(organisme.uai, organisme.siret, organisme.demo_key, "keyring")
        assert "Secret Service" in stored
    config = config.model_copy(update={"establishments": establishments})
    monkeypatch.setattr(  # one read for all: a read per key would now fail loudly
        type(keyring.get_keyring()), "get_password", lambda *a: pytest.fail("lecture une à une")
    )
    report = asyncio.run(run_sync(config, SecretStore(store.credentials_file), state_dir(), FAST))
    assert [(e.sent, e.accepted, e.level) for e in report.establishments] == [
        (3, 3, "OK"), (3, 3, "OK"), (3, 3, "OK"), (0, 0, "CRITICAL")
    ]  # fmt: skip
    assert "Aucune clé d'échange enregistrée" in report.establishments[3].errors[0]


def test_readers_stop_what_no_one_took(sandbox: Sandbox, tmp_path: Path) -> None:
    export = write_csv(tmp_path / "a.csv", records(sandbox, 3000))
    readers = Readers(processes=2)
    readers.begin([export, export, export], dry_run=False)  # two read, blocked on full pipes
    assert len(reading_processes()) == 2
    readers.take(0)  # taken, never given back
    readers.close()
    readers.close()  # twice is harmless
    assert reading_processes() == []


def test_a_reading_process_that_cannot_start_is_reported(
    setup: tuple[Sandbox, Config, SecretStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox, config, store = setup
    write_csv(export_path(config), records(sandbox, 3))
    monkeypatch.setattr(reading_module, "reader_command", lambda: ["/nonexistent/python"])
    report = sync(config, store)
    [e] = report.establishments
    assert e.level == "CRITICAL" and e.sent == 0
    assert e.errors == [
        f"Lecture impossible de {export_path(config)} : le processus de lecture n'a pas pu "
        "être lancé."
    ]


def test_a_reading_process_not_needed_exits_quietly() -> None:
    # A spare whose job stopped (stdin closed, no order): no output, no error.
    done = subprocess.run(reading_module.reader_command(), input=b"", capture_output=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


def test_the_command_leaves_no_reading_process_behind(
    setup: tuple[Sandbox, Config, SecretStore], capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, config, _ = setup
    write_csv(export_path(config), records(sandbox, 3000))
    with sync_lock(state_dir()):  # stops after the first export started being read
        assert main(["sync"]) == 1
    assert "Un envoi est déjà en cours" in capsys.readouterr().err
    assert reading_processes() == []
    default_config_path().unlink()  # stops before any export is known
    assert main(["sync"]) != 0
    assert reading_processes() == []
    assert sandbox.requests() == []


def test_the_reading_process_starts_before_the_job_loads_its_modules(
    setup: tuple[Sandbox, Config, SecretStore],
) -> None:
    # It loads its own modules meanwhile: the configuration's models and the HTTP client
    # are loaded after it is started, and the first export is read as soon as the
    # configuration is.
    sandbox, config, _ = setup
    write_csv(export_path(config), records(sandbox, 3))
    script = (
        "import sys\n"
        "from tdba_wizard.nightly import reading\n"
        "start, begin = reading.Readers.__init__, reading.Readers.begin\n"
        "def init(self, **kwargs):\n"
        "    print('START', sorted({'pydantic', 'httpx'} & set(sys.modules)))\n"
        "    start(self, **kwargs)\n"
        "def first(self, sources, **kwargs):\n"
        "    print('BEGIN', sorted({'pydantic', 'httpx'} & set(sys.modules)))\n"
        "    begin(self, sources, **kwargs)\n"
        "reading.Readers.__init__, reading.Readers.begin = init, first\n"
        "from tdba_wizard.cli import main\n"
        "sys.exit(main(['sync', '--dry-run']))\n"
    )
    done = run_python(script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("START []\nBEGIN ['pydantic']\n"), done.stdout


def parse_frames(data: bytes) -> Iterator[tuple[dict[str, Any], bytes]]:
    view = memoryview(data)
    while view:
        (size,) = FRAME_HEADER.unpack(view[: FRAME_HEADER.size])
        header = json.loads(bytes(view[FRAME_HEADER.size : FRAME_HEADER.size + size]))
        start = FRAME_HEADER.size + size
        yield header, bytes(view[start : start + header["size"]])
        view = view[start + header["size"] :]


def test_json_export_is_validated_and_sent(setup: tuple[Sandbox, Config, SecretStore]) -> None:
    sandbox, config, store = setup
    rows = records(sandbox, 3)
    rows[2]["email_contact"] = "lea@"
    source = export_path(config).with_suffix(".json")
    source.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    config.establishments[0].source = str(source)
    [e] = sync(config, store).establishments
    assert (e.rows_read, e.rejected_locally, e.sent, e.accepted) == (3, 1, 2, 2)
    [(line, erp)] = e.local_reasons["email_contact : Email non valide"].first
    assert erp == "E2" and line > 2


def test_local_rejections_are_reported_by_line_not_name(
    setup: tuple[Sandbox, Config, SecretStore],
) -> None:
    sandbox, config, store = setup
    rows = records(sandbox, 3)
    rows[1]["date_entree_formation"] = "32/01/2025"
    rows[2]["email_contact"] = "lea@"
    write_csv(export_path(config), rows)
    report = sync(config, store)
    [e] = report.establishments
    assert (e.rows_read, e.rejected_locally, e.sent) == (3, 2, 1)
    reasons = {reason: group.first for reason, group in e.local_reasons.items()}
    assert reasons == {
        "date_entree_formation : Invalid date": [(3, "E1")],
        "email_contact : Email non valide": [(4, "E2")],
    }
    assert len(sandbox.records()) == 1
    dumped = json.dumps(report.as_json(), ensure_ascii=False)
    for name in NAMES:
        assert name not in dumped


def test_values_tdba_changes_silently_are_noted_not_refused(
    setup: tuple[Sandbox, Config, SecretStore],
) -> None:
    """TDBA rolls 31/02 over to 3 March and trims spaces: the rows are sent, as exported,
    and the report says what TDBA will store instead."""
    sandbox, config, store = setup
    rows = records(sandbox, 3)
    rows[0]["date_entree_formation"] = "31/02/2025"
    rows[2]["prenom_apprenant"] = " Zoé "
    write_csv(export_path(config), rows)
    report = sync(config, store)
    [e] = report.establishments
    assert (e.rows_read, e.rejected_locally, e.sent, e.accepted) == (3, 0, 3, 3)
    notes = {reason: group.first for reason, group in e.notes.items()}
    assert notes == {
        "date_entree_formation : " + NOTE_DAY_ROLLED: [(2, "E0")],
        "prenom_apprenant : " + NOTE_TRIMMED: [(4, "E2")],
    }
    stored = {r["id_erp_apprenant"]: r for r in sandbox.records()}
    assert stored["E0"]["date_entree_formation"] == "2025-03-03T00:00:00.000Z"
    assert stored["E2"]["prenom_apprenant"] == "Zoé"
    text = render_text(report)
    assert "Valeurs que TDBA modifiera ou ignorera sans les refuser" in text
    assert "l.2 (id E0)" in text


def test_tdba_stores_what_the_export_said_and_the_nir_never_leaves(
    setup: tuple[Sandbox, Config, SecretStore], tmp_path: Path
) -> None:
    """TDBA sets has_nir from nir_apprenant (it drops an incoming has_nir): the NIR goes as
    a bare ``true``, never as the number; values go as exported (TDBA trims and upper-cases
    them itself), and an empty cell is absent, never padded."""
    sandbox, config, store = setup
    nir = "1 85 05 78 006 084 36"
    rows = records(sandbox, 2, code_postal_apprenant=None)
    rows[0].update(nir_apprenant=nir, nom_apprenant=" martin ", code_postal_apprenant="1000")
    path = write_csv(export_path(config), rows)
    out = io.BytesIO()
    stream(path, out, dry_run=False, max_bytes=10 * 1024 * 1024)
    [(_, body)] = [(h, b) for h, b in parse_frames(out.getvalue()) if h["kind"] == "batch"]
    sent = json.loads(body)
    assert sent[0]["nir_apprenant"] is True and "nir_apprenant" not in sent[1]
    assert nir.encode() not in body and b"185057800608436" not in body
    assert sent[0]["nom_apprenant"] == " martin " and sent[0]["code_postal_apprenant"] == "1000"
    assert "code_postal_apprenant" not in sent[1]
    report = sync(config, store)
    assert report.ok
    stored = {r["id_erp_apprenant"]: r for r in sandbox.records()}
    assert stored["E0"]["has_nir"] is True and stored["E1"]["has_nir"] is False
    assert stored["E0"]["nom_apprenant"] == "MARTIN"
    assert stored["E0"]["code_postal_apprenant"] == "01000"
    assert "code_postal_apprenant" not in stored["E1"]
    dumped = json.dumps(report.as_json()) + render_text(report)
    assert nir not in dumped and "185057800608436" not in dumped


def test_blocks_and_batches_keep_every_valid_row_once_with_its_line(
    setup: tuple[Sandbox, Config, SecretStore],
) -> None:
    # Rows are read a block at a time and sent 2000 at a time: refused rows and empty lines
    # scattered over several blocks and batches must not shift, lose or repeat anything.
    sandbox, config, store = setup
    rows = records(sandbox, 4300)
    for index in range(0, 4300, 97):
        rows[index]["statut_apprenant"] = 7
    path = write_csv(export_path(config), rows)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    blank_after = set(range(1, 4300, 389))  # an empty line after these data lines
    path.write_text(
        "".join(line + ("\r\n" if n in blank_after else "") for n, line in enumerate(lines)),
        encoding="utf-8",
    )
    report = sync(config, store)
    [e] = report.establishments
    refused = len(range(0, 4300, 97))
    assert (e.rows_read, e.rejected_locally, e.sent) == (4300, refused, 4300 - refused)
    [group] = e.local_reasons.values()
    # The first refused rows, by file line: each empty line above pushes the next ones down.
    expected = [
        (2 + i + sum(1 for n in blank_after if n <= i), f"E{i}") for i in range(0, 4300, 97)
    ]
    assert group.first == expected[: len(group.first)]
    stored = sorted(int(r["id_erp_apprenant"][1:]) for r in sandbox.records())
    assert stored == [i for i in range(4300) if i % 97]
    posts = [r for r in sandbox.requests() if r[1] == SEND]
    assert len(posts) == 3  # 2000 + 2000 + the rest


def test_rows_tdba_rejects_are_counted(setup: tuple[Sandbox, Config, SecretStore]) -> None:
    sandbox, config, store = setup

    def no_e1(record: dict[str, Any]) -> list[FieldError]:
        if record["id_erp_apprenant"] == "E1":
            return [FieldError("Règle serveur inconnue", ("ine_apprenant",))]
        return []

    sandbox.extra_rule = no_e1
    write_csv(export_path(config), records(sandbox, 3))
    [e] = sync(config, store).establishments
    assert (e.sent, e.accepted, e.rejected_by_tdba) == (3, 2, 1)
    assert e.tdba_reasons["ine_apprenant : Règle serveur inconnue"].first == [(3, "E1")]
    assert e.verdict() == ("WARNING", ["1 dossier refusé par TDBA."])  # refused: never OK


def test_429_with_retry_after_is_honoured(setup: tuple[Sandbox, Config, SecretStore]) -> None:
    sandbox, config, store = setup
    write_csv(export_path(config), records(sandbox, 10))
    sandbox.inject(Failure("429", retry_after=1, path=SEND))
    report = sync(config, store)
    assert report.ok and len(sandbox.records()) == 10
    statuses = [r[2] for r in sandbox.requests() if r[1] == "/api/v3/dossiers-apprenants"]
    assert statuses == [429, 200]
    assert report.establishments[0].duration >= 1.0


@pytest.mark.parametrize("kind", ["500", "drop"])
def test_transient_failure_then_success(
    setup: tuple[Sandbox, Config, SecretStore], kind: str
) -> None:
    sandbox, config, store = setup
    write_csv(export_path(config), records(sandbox, 10))
    sandbox.inject(Failure(kind, path=SEND))  # type: ignore[arg-type]
    report = sync(config, store)
    assert report.ok
    assert len(sandbox.records()) == 10


def test_403_stops_at_once_without_retry(setup: tuple[Sandbox, Config, SecretStore]) -> None:
    sandbox, config, store = setup
    organisme = sandbox.organismes[0]
    store.store(organisme.uai, organisme.siret, DEMO_KEY, "file")  # a key TDBA does not know
    write_csv(export_path(config), records(sandbox, 4500))
    report = sync(config, store)
    [e] = report.establishments
    assert [r[1:] for r in sandbox.requests()] == [("/api/v3/dossiers-apprenants/test", 403)]
    assert any("Générez-en une nouvelle" in error for error in e.errors)
    assert e.level == "CRITICAL" and not report.ok
    assert (e.rows_read, e.spooled) == (0, 0)  # the export is read again on the next run


def test_key_revoked_mid_run_stops_and_keeps_batches(
    setup: tuple[Sandbox, Config, SecretStore],
) -> None:
    sandbox, config, store = setup
    write_csv(export_path(config), records(sandbox, 4500))
    original = sandbox.extra_rule

    def revoke_after_first(record: dict[str, Any]) -> list[FieldError]:
        sandbox.revoke(sandbox.organismes[0].demo_key)
        return []

    sandbox.extra_rule = revoke_after_first
    report = sync(config, store, SyncOptions(base_delay=0.01, max_attempts=3, concurrency=1))
    sandbox.extra_rule = original
    [e] = report.establishments
    statuses = [r[2] for r in sandbox.requests() if r[1] == "/api/v3/dossiers-apprenants"]
    assert statuses == [200, 403]  # no retry after the 403, and nothing more sent
    assert e.accepted == 2000 and e.spooled == 2500  # the refused batch and the one built
    assert not report.ok


def test_spool_is_sent_first_next_run_with_nothing_lost_or_duplicated(
    setup: tuple[Sandbox, Config, SecretStore],
) -> None:
    sandbox, config, store = setup
    write_csv(export_path(config), records(sandbox, 2500))
    sandbox.inject(Failure("500", count=FAST.max_attempts, path=SEND))
    one_at_a_time = SyncOptions(base_delay=0.01, max_attempts=FAST.max_attempts, concurrency=1)
    first = sync(config, store, one_at_a_time)  # the first batch fails every try
    [e] = first.establishments
    assert (e.spooled, e.accepted) == (2000, 500)
    assert not first.ok
    spool_files = list((state_dir() / "spool").rglob("*.json"))
    assert len(spool_files) == 1 and oct(spool_files[0].stat().st_mode & 0o777) == "0o600"
    assert len(sandbox.records()) == 500

    write_csv(export_path(config), records(sandbox, 2500, start=2500))  # next night's export
    second = sync(config, store)
    [e] = second.establishments
    assert second.ok
    assert (e.spool_delivered, e.accepted, e.spooled) == (2000, 4500, 0)
    assert not list((state_dir() / "spool").rglob("*.json"))
    ids = sorted(int(str(r["id_erp_apprenant"])[1:]) for r in sandbox.records())
    assert ids == list(range(5000))  # every record once: none lost, none duplicated


def test_lock_refuses_a_second_run(
    setup: tuple[Sandbox, Config, SecretStore], capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, config, _ = setup
    write_csv(export_path(config), records(sandbox, 1))
    with sync_lock(state_dir()):
        assert main(["sync"]) == 1
    err = capsys.readouterr().err
    assert "Un envoi est déjà en cours" in err
    assert sandbox.requests() == []


def test_cli_run_writes_reports_and_last_sync(
    setup: tuple[Sandbox, Config, SecretStore], capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, config, _ = setup
    write_csv(export_path(config), records(sandbox, 5))
    assert main(["sync"]) == 0
    out = capsys.readouterr().out
    assert "Envoyées : 5 ; acceptées par TDBA : 5" in out
    reports = sorted((state_dir() / "reports").iterdir())
    assert [p.suffix for p in reports] == [".json", ".txt"]
    for path in reports:
        text = path.read_text("utf-8")
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        assert DEMO_KEY not in text and sandbox.organismes[0].demo_key not in text
        for name in NAMES:
            assert name not in text
    last = load_last_sync(state_dir())
    entry = last["establishments"][f"{sandbox.organismes[0].uai}-{sandbox.organismes[0].siret}"]
    assert entry["verdict"] == "OK" and entry["last_success"] and entry["last_transmission"]


def test_an_interrupted_run_says_what_was_sent_stays(
    setup: tuple[Sandbox, Config, SecretStore],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def interrupted(*args: Any, **kwargs: Any) -> SyncReport:
        raise KeyboardInterrupt

    monkeypatch.setattr(sync_module, "run_sync", interrupted)
    assert main(["sync"]) == 130
    err = capsys.readouterr().err
    assert "Les dossiers déjà transmis le restent" in err and "rien n'a été modifié" not in err


def test_dry_run_sends_nothing(
    setup: tuple[Sandbox, Config, SecretStore], capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, config, _ = setup
    rows = records(sandbox, 3)
    rows[0]["statut_apprenant"] = 9
    write_csv(export_path(config), rows)
    assert main(["sync", "--dry-run"]) == 1  # WARNING: a row would be refused
    out = capsys.readouterr().out
    assert "simulation" in out and "statut_apprenant : Valeurs possibles: 0,2,3" in out
    # No record sent: only the public look-up of the organismes the export names.
    assert {path for _, path, _ in sandbox.requests()} == {"/api/v1/organismes/get-by-uai-siret"}
    assert not (state_dir() / "last-sync.json").exists()


def test_progress_while_reading_and_at_the_end(
    setup: tuple[Sandbox, Config, SecretStore],
) -> None:
    sandbox, config, store = setup
    write_csv(export_path(config), records(sandbox, 2300))
    seen: list[tuple[int, int, bool]] = []

    def progress(name: str, read: int, sent: int, *, done: bool = False) -> None:
        assert name == "CFA 1"
        seen.append((read, sent, done))

    for dry_run in (True, False):
        seen.clear()
        options = SyncOptions(dry_run=dry_run, base_delay=0.01)
        asyncio.run(run_sync(config, store, state_dir(), options, progress))
        reading = [read for read, _, done in seen if not done]
        assert len(reading) >= 2300 // ROW_BLOCK  # shown while reading
        assert reading == sorted(reading)
        assert seen[-1] == (2300, 0 if dry_run else 2300, True)  # the final figures, once
        assert [done for *_, done in seen].count(True) == 1


def test_terminal_progress_line_always_shows_the_final_figures(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    show = progress_printer(2)
    assert show is not None
    show("CFA", 10, 0)
    show("CFA", 20, 0)  # within 0.2 s: skipped
    show("Lycée", 5, 0)  # skipped too, but counted from now on
    show("CFA", 30, 30, done=True)
    err = capsys.readouterr().err
    assert "en cours : « CFA » ; 10 lignes lues, 0 dossiers envoyés…" in err
    assert "20 lignes" not in err
    assert err.endswith(
        "1/2 établissement(s) terminé(s) ; en cours : « Lycée » ; 35 lignes lues, "
        "30 dossiers envoyés…"
    )


def test_missing_export_is_explained(setup: tuple[Sandbox, Config, SecretStore]) -> None:
    _, config, store = setup
    [e] = sync(config, store).establishments
    assert e.level == "CRITICAL"
    assert "Export introuvable" in e.errors[0]


def test_report_is_emailed(
    setup: tuple[Sandbox, Config, SecretStore], capsys: pytest.CaptureFixture[str]
) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received: list[Any] = []

    class Collect(Message):  # type: ignore[misc]
        def handle_message(self, message: Any) -> None:
            received.append(message)

    from .servers import free_port

    port = free_port()
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        sandbox, config, _ = setup
        data = config.model_dump()
        data["schedule"]["report_to"] = "admin@cfa.example"
        data["schedule"]["smtp"] = {
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "sender": "tdba@cfa.example",
        }
        save_config(default_config_path(), Config.model_validate(data))
        write_csv(export_path(config), records(sandbox, 2))
        assert main(["sync"]) == 0
    finally:
        controller.stop()
    assert "Compte rendu envoyé à admin@cfa.example" in capsys.readouterr().out
    [message] = received
    assert message["To"] == "admin@cfa.example"
    assert message["Subject"].startswith("[tdba-wizard] Envoi TDBA du ")
    body = message.get_payload(decode=True).decode("utf-8")
    assert "acceptées par TDBA : 2" in body
    for name in NAMES:
        assert name not in body


def test_unreachable_smtp_is_a_warning_not_a_crash(
    setup: tuple[Sandbox, Config, SecretStore], capsys: pytest.CaptureFixture[str]
) -> None:
    from .servers import free_port

    sandbox, config, _ = setup
    data = config.model_dump()
    data["schedule"]["report_to"] = "admin@cfa.example"
    data["schedule"]["smtp"] = {"host": "127.0.0.1", "port": free_port(), "security": "none"}
    save_config(default_config_path(), Config.model_validate(data))
    write_csv(export_path(config), records(sandbox, 1))
    assert main(["sync"]) == 1  # WARNING: sent and accepted, but the report was not mailed
    out = capsys.readouterr().out
    assert "— WARNING" in out and "⚠ Compte rendu non envoyé" in out
    last = json.loads((state_dir() / "last-sync.json").read_text(encoding="utf-8"))
    assert last["verdict"] == "WARNING" and "Compte rendu non envoyé" in last["warnings"][0]


def test_sync_reads_key_from_stdin_nowhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """sync never asks for a key: running it under cron with no stdin must not block."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["sync", "--preflight"]) == 1

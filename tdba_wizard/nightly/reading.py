"""Reading an export for the nightly job, in a process of its own.

Parsing the export, validating every row and encoding the records is CPU-bound Python: run
in a child process (``python -m tdba_wizard.nightly.reading``), it takes a second core while
the job's own process sends the batches and reads TDBA's answers. :class:`Readers` starts
each child ahead of its turn: it loads its modules, then reads from its standard input one
line per export to read, one after the other (JSON: ``path``, ``dry_run``, ``max_bytes``,
``owner``, the establishment's UAI and SIRET, and ``learners``; for a manual run, ``python -m
tdba_wizard.nightly.reading PATH`` takes one from the command line instead). A few children
read at once, each for one establishment being sent. The child never
sees a key, and it writes nothing but frames (:mod:`tdba_wizard.nightly.frames`) on its
standard output. Whatever stops it, it says why in its last frame, in French; what it writes
on its standard error (a traceback) is read by the job, which names the cause when the child
could not.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import traceback
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar, cast

from tdba_wizard.nightly.batches import encode_batches
from tdba_wizard.nightly.frames import (
    ERP_ID_SHOWN,
    BatchFrame,
    EndFrame,
    Groups,
    Progress,
    ReasonGroup,
    write_frame,
)
from tdba_wizard.text import clean
from tdba_wizard.wire import MAX_BATCH_BYTES, MAX_BATCH_ITEMS

if TYPE_CHECKING:
    import asyncio

    from tdba_wizard.nightly.exports import Findings
    from tdba_wizard.nightly.later import Later
    from tdba_wizard.records.dossier import FieldError
    from tdba_wizard.records.rows import RowValidator

# The job's own process imports this module for Readers only: the record rules and the
# export readers are loaded by the functions that run in the child.

ROW_BLOCK = 250  # rows read and validated together


@dataclass
class Tally:
    """What reading an export found: rows read, rows refused locally and why, and the values
    TDBA will change without refusing them."""

    rows_read: int = 0
    rejected: int = 0
    reasons: Groups = field(default_factory=dict)
    notes: Groups = field(default_factory=dict)
    missing: frozenset[str] = frozenset()
    """Required columns the export lacks: said once in the header, not once per row."""

    def reject(self, errors: list[FieldError], line: int, erp_id: str | None) -> None:
        self.rejected += 1
        said = set()
        for error in errors:
            name = ".".join(error.path)
            if name in self.missing:
                reason = "colonne(s) obligatoire(s) absente(s) de l'export (voir l'en-tête)"
            else:
                reason = f"{name or 'ligne'} : {error.message}"
            if reason not in said:
                said.add(reason)
                self.reasons.setdefault(reason, ReasonGroup()).add(line, erp_id)

    def refuse(self, line: int, reason: str, erp_id: str | None) -> None:
        """A record the reader itself could not take (its shape, its encoding)."""
        self.rows_read += 1
        self.rejected += 1
        self.reasons.setdefault(reason, ReasonGroup()).add(line, erp_id)

    def note(self, notes: list[tuple[str, str]], line: int, erp_id: str | None) -> None:
        for name, note in notes:
            self.notes.setdefault(f"{name} : {note}", ReasonGroup()).add(line, erp_id)


# Valid rows, a few hundred at a time: the records to send and the (line, ERP id) of each.
Block = tuple[list[dict[str, Any]], list[tuple[int, str | None]]]


def read_and_validate(
    path: Path, tally: Tally, findings: Findings, later: Later | None = None
) -> Iterator[Block]:
    """Yield the valid rows a block at a time; count the others and group their reasons."""
    from tdba_wizard.nightly.exports import (
        cell_converter,
        read_csv,
        read_csv_cells,
        reader_for,
        rows_of_cells,
    )
    from tdba_wizard.nightly.later import Later
    from tdba_wizard.records.compiled import unchanged_cells
    from tdba_wizard.records.rows import RowValidator, judge_values

    later = later or Later(None)
    reader = reader_for(path)
    if reader is read_csv:
        header, cells = read_csv_cells(path, findings)
        tally.missing = findings.missing
        if len(set(header)) == len(header):  # the fast path, for the usual export
            validator = RowValidator(header, cell_converter, unchanged_cells)
            yield from _validate_cells(validator, cells, tally, later)
            return
        rows = rows_of_cells(header, cells)  # repeated names, none of them TDBA's
    else:
        rows = reader(path, findings)
    for block in _blocks(rows):
        tally.missing = findings.missing
        checked = []
        for row in block:
            judged = judge_values(row.values)
            checked.append(
                (row.line, judged.output, judged.errors, judged.notes, _erp_given(row.values))
            )
        yield _keep_valid(checked, tally, later)


T = TypeVar("T")


def _blocks(rows: Iterator[T]) -> Iterator[list[T]]:
    """Yield the rows a block at a time; when reading fails midway, the rows read before the
    failure are yielded first (they are sent), then the failure is raised (it is said)."""
    while True:
        block: list[T] = []
        failure: Exception | None = None
        try:
            block.extend(islice(rows, ROW_BLOCK))
        except Exception as error:
            failure = error
        if block:
            yield block
        if failure is not None:
            raise failure
        if len(block) < ROW_BLOCK:
            return


def _erp_given(values: dict[str, Any]) -> str | None:
    from tdba_wizard.records.js import to_string, trim

    erp = values.get("id_erp_apprenant")
    if erp is None:
        return None
    text = trim(to_string(erp))
    return text or None


def _keep_valid(
    rows: Iterable[tuple[int, dict[str, Any], list[FieldError], list[tuple[str, str]], str | None]],
    tally: Tally,
    later: Later,
) -> Block:
    """Return the valid rows of (line, record, errors, notes, ERP id as given); count the
    others, and note what TDBA will change."""
    records: list[dict[str, Any]] = []
    refs: list[tuple[int, str | None]] = []
    for line, record, errors, notes, erp_id in rows:
        tally.rows_read += 1
        if errors:
            tally.reject(errors, line, erp_id)
            continue
        if notes:
            tally.note(notes, line, erp_id)
        later.note(record, line, erp_id)
        records.append(record)
        refs.append((line, _ref(erp_id)))
    return records, refs


def _ref(erp_id: str | None) -> str | None:
    """The ERP id a batch carries for the report: bounded (a 20 MB cell stays in the file)
    and printable (control characters and lone surrogates escaped)."""
    if erp_id is None:
        return None
    return clean(erp_id, ERP_ID_SHOWN)


def _validate_cells(
    validator: RowValidator,
    rows: Iterator[tuple[int, list[str]]],
    tally: Tally,
    later: Later,
) -> Iterator[Block]:
    for block in _blocks(rows):
        lines = [line for line, _ in block]
        cells = [row for _, row in block]
        checked = validator.validate_rows(cells)
        if not checked.errors and not checked.notes and None not in checked.records:
            valid = cast(list[dict[str, Any]], checked.records)  # the usual block: all valid
            tally.rows_read += len(valid)
            erp_ids = [_ref(validator.erp_id(row)) for row in cells]
            for record, line, erp_id in zip(valid, lines, erp_ids, strict=True):
                later.note(record, line, erp_id)
            yield valid, list(zip(lines, erp_ids, strict=True))
            continue
        rows_checked = (
            (
                lines[index],
                record,
                checked.errors.get(index, []),
                checked.notes.get(index, []),
                validator.erp_id(cells[index]),
            )
            for index, record in enumerate(checked.records)
            if record is not None  # None: an empty line
        )
        yield _keep_valid(rows_checked, tally, later)


def stream(
    path: Path,
    out: BinaryIO,
    *,
    dry_run: bool,
    max_bytes: int,
    owner: tuple[str, str] | None = None,
    learners: dict[str, str] | None = None,
) -> None:
    """Read, validate and encode the export at ``path``, written as frames on ``out``.

    ``learners``: the duplicate index (``secret`` in hex, ``index`` and ``pending`` paths).
    Whatever stops the reading, the last frame says why (in French), with what was read.
    """
    from tdba_wizard.nightly.exports import Findings, SourceError
    from tdba_wizard.nightly.later import Later, LearnerIndex

    index = None
    if learners is not None:
        index = LearnerIndex.load(bytes.fromhex(learners["secret"]), Path(learners["index"]))
    later = Later(owner, index)
    tally = Tally()
    findings = Findings()
    records: list[dict[str, Any]] = []  # read, not written yet
    refs: list[tuple[int, str | None]] = []
    error = None
    try:
        for block_records, block_refs in read_and_validate(path, tally, findings, later):
            if not dry_run:
                records += block_records
                refs += block_refs
            if len(records) < MAX_BATCH_ITEMS:
                write_frame(out, Progress(tally.rows_read))
                continue
            _write_batches(out, records[:MAX_BATCH_ITEMS], refs[:MAX_BATCH_ITEMS], tally, max_bytes)
            records, refs = records[MAX_BATCH_ITEMS:], refs[MAX_BATCH_ITEMS:]
    except SourceError as failure:
        error = failure.message
    except BrokenPipeError:
        raise  # the job stopped reading: no last frame to write
    except Exception as failure:  # said in French below; the traceback goes to stderr
        error = read_failure(path, failure, tally.rows_read)
        traceback.print_exc(file=sys.stderr)
    _write_batches(out, records, refs, tally, max_bytes)  # what was read before a failure too
    for line, reason, erp_id in findings.rejected:
        tally.refuse(line, reason, erp_id)
    findings.finish()
    if index is not None and learners is not None and not dry_run and error is None:
        # Not written: no new index tonight; duplicates are told against the last good one.
        with contextlib.suppress(Exception):
            index.write(Path(learners["pending"]))
    end = EndFrame(
        tally.rows_read,
        tally.rejected,
        tally.reasons,
        tally.notes,
        error,
        later.attention,
        findings.header,
        later.pairs_json(),
        later.duplicates,
        later.unpaired.count,
    )
    write_frame(out, end)


def read_failure(path: Path, failure: BaseException, rows: int) -> str:
    """Say in French why reading stopped (the records after that point are not sent)."""
    from tdba_wizard.text import clean

    where = f"Lecture de {path} interrompue après {rows} ligne(s) lue(s)"
    if isinstance(failure, RecursionError):
        cause = "structure JSON trop imbriquée pour être lue"
    elif isinstance(failure, MemoryError):
        cause = "mémoire insuffisante"
    elif isinstance(failure, UnicodeError):
        cause = f"caractères illisibles ({clean(failure, 120)})"
    elif isinstance(failure, OSError):
        cause = f"erreur du système de fichiers ({failure.strerror or type(failure).__name__})"
    else:
        cause = f"erreur inattendue ({type(failure).__name__} : {clean(failure, 120)})"
    return f"{where} : {cause}. Les lignes suivantes n'ont pas été envoyées."


def _write_batches(
    out: BinaryIO,
    records: list[dict[str, Any]],
    refs: list[tuple[int, str | None]],
    tally: Tally,
    max_bytes: int,
) -> None:
    if not records:
        return
    for batch in encode_batches(records, refs, max_bytes):
        write_frame(out, BatchFrame(tally.rows_read, batch.count, batch.refs, batch.body))


LEARNERS = "learners"
LEARNERS_SECRET = "learners.salt"


def learner_orders(establishments: Sequence[Any], state_dir: Path) -> list[dict[str, str] | None]:
    """The duplicate index of each establishment, for its reading process: the secret of the
    keyed hashes and where the index is (None: no secret, the state directory being
    unusable: no duplicate is predicted)."""
    from tdba_wizard.files import ensure_private_dir
    from tdba_wizard.secrets import entry_name, installation_salt

    secret = installation_salt(state_dir, LEARNERS_SECRET)
    folder = state_dir / LEARNERS
    try:
        if secret is None:
            raise OSError
        ensure_private_dir(folder)
    except OSError:
        return [None] * len(establishments)
    assert secret is not None
    return [
        {
            "secret": secret.hex(),
            "index": str(folder / f"{entry_name(e.uai, e.siret)}.json"),
            "pending": str(folder / f"{entry_name(e.uai, e.siret)}.pending.json"),
        }
        for e in establishments
    ]


def reader_command() -> list[str]:
    """Return the command of a reading process (no export in it, no secret: see the module)."""
    return [sys.executable, "-m", "tdba_wizard.nightly.reading"]


PROCESSES = 3
"""Reading processes of a run at most: as many establishments are sent at once."""


class ReadingProcess:
    """A reading process (job's side): it reads the exports it is told, one after the other.

    Its output streams are attached to the job's event loop on first use (:meth:`attach`):
    frames on ``stdout``, and the end of its standard error, read all along so that the
    child never blocks on it (``stderr_tail``, the last bytes said since its last order).
    """

    STDERR_KEPT = 8192

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self.stdout: asyncio.StreamReader | None = None
        self.stderr_tail = bytearray()
        self._transports: list[asyncio.BaseTransport] = []

    @classmethod
    def spawn(cls) -> ReadingProcess | None:
        try:
            popen = subprocess.Popen(
                reader_command(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                # Read by the job while it reads the frames (never blocks the child); it may
                # quote the export, so only its last line, cleaned, reaches a report.
                stderr=subprocess.PIPE,
            )
        except OSError:
            return None  # told when the export is to be read (Readers.take)
        return cls(popen)

    def order(self, order: dict[str, Any]) -> None:
        """Have it read an export (its frames follow, up to the end frame)."""
        self.stderr_tail.clear()
        assert self.popen.stdin is not None
        try:
            self.popen.stdin.write(json.dumps(order).encode("utf-8") + b"\n")
            self.popen.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass  # it stopped: its missing end frame tells the job

    async def attach(self, limit: int) -> asyncio.StreamReader:
        """Its frames, as a stream of the running loop (it pauses the child past ``limit``)."""
        import asyncio

        if self.stdout is not None:
            return self.stdout
        loop = asyncio.get_running_loop()
        self.stdout = stdout = asyncio.StreamReader(limit=limit)
        assert self.popen.stdout is not None
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stdout), self.popen.stdout
        )
        self._transports.append(transport)
        if self.popen.stderr is not None:
            tail = self.stderr_tail

            class _Tail(asyncio.Protocol):
                def data_received(self, data: bytes) -> None:
                    tail.extend(data)
                    del tail[: -ReadingProcess.STDERR_KEPT]

            transport, _ = await loop.connect_read_pipe(_Tail, self.popen.stderr)
            self._transports.append(transport)
        return stdout

    def close(self) -> None:
        """Stop it (if it still runs) and wait for it."""
        self.stop()
        self.popen.wait()

    def stop(self) -> None:
        """Stop it (if it still runs), without waiting for it; in the loop's thread."""
        if self.popen.poll() is None:
            self.popen.kill()
        for transport in self._transports:
            transport.close()
        self._transports.clear()
        for pipe in (self.popen.stdin, self.popen.stdout, self.popen.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


class Readers:
    """The reading processes of a run (job's side): at most ``processes`` of them, each
    reading one export after another.

    One process is started at once: it loads its modules while the job loads its own and the
    configuration. :meth:`begin` then has the first exports read (as many as there are
    processes), before the job asks TDBA anything. A process whose export was read to the end
    is given back (:meth:`give_back`) and reads a next one; one stopped on the way is closed,
    and another is started when needed. ``close`` stops them all.
    """

    def __init__(self, *, max_bytes: int = MAX_BATCH_BYTES, processes: int = PROCESSES) -> None:
        self.max_bytes = max_bytes
        self.processes = max(1, processes)
        first = ReadingProcess.spawn()
        self._idle: list[ReadingProcess] = [first] if first is not None else []
        self._sources: list[Path | None] | None = None
        self._owners: list[tuple[str, str] | None] = []
        self._learners: list[dict[str, str] | None] = []
        self._dry_run = False
        self._started: dict[int, ReadingProcess] = {}
        self._taken: set[ReadingProcess] = set()

    def begin(
        self,
        sources: Sequence[Path | None],
        *,
        dry_run: bool,
        owners: Sequence[tuple[str, str] | None] | None = None,
        learners: Sequence[dict[str, str] | None] | None = None,
    ) -> None:
        """Take the run's exports (None: no export), in order, and the (UAI, SIRET) of the
        establishment each belongs to; the first ones are read at once.

        Does nothing when given the same run again.
        """
        if self._sources is not None:
            if (list(sources), dry_run) != (self._sources, self._dry_run):
                raise ValueError("the exports of a run are given once")
            return
        self._sources, self._dry_run = list(sources), dry_run
        self._owners = list(owners) if owners is not None else [None] * len(sources)
        self._learners = list(learners) if learners is not None else [None] * len(sources)
        first = [i for i, source in enumerate(self._sources) if source is not None]
        for index in first[: self.processes]:
            with contextlib.suppress(OSError):  # take() tries again; the report says why
                self._started[index] = self._order(index)

    def take(self, index: int) -> ReadingProcess:
        """Return the process reading export ``index``: the caller gives it back once the
        export is read to the end, or closes it.

        Raises OSError when no process could be started.
        """
        process = self._started.pop(index, None) or self._order(index)
        self._taken.add(process)
        return process

    def give_back(self, process: ReadingProcess) -> None:
        """Take back a process that read its export to the end: it reads the next one."""
        self._taken.discard(process)
        if process.popen.poll() is None and self._sources is not None:
            self._idle.append(process)
        else:
            process.close()

    def _order(self, index: int) -> ReadingProcess:
        assert self._sources is not None and self._sources[index] is not None
        process = self._idle.pop() if self._idle else ReadingProcess.spawn()
        if process is None:
            raise OSError("le processus de lecture n'a pas pu être lancé")
        process.order(
            {
                "path": str(self._sources[index]),
                "dry_run": self._dry_run,
                "max_bytes": self.max_bytes,
                "owner": self._owners[index] if index < len(self._owners) else None,
                "learners": self._learners[index] if index < len(self._learners) else None,
            }
        )
        return process

    def close(self) -> None:
        """Stop and wait for every process (idle, reading ahead, or still taken)."""
        waiting = [*self._started.values(), *self._idle, *self._taken]
        self._started.clear()
        self._idle.clear()
        self._taken.clear()
        for process in waiting:
            process.close()


def _preload() -> None:
    """Load what reading an export takes, while the job has not said which one yet."""
    import tdba_wizard.nightly.exports  # noqa: F401  (the export readers)
    from tdba_wizard.records.compiled import unchanged_cells
    from tdba_wizard.records.dossier import FIELDS

    for name in FIELDS:
        unchanged_cells(name)  # compiles the column checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tdba_wizard.nightly.reading")
    parser.add_argument("path", type=Path, nargs="?", help="default: the order on stdin")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--max-bytes", type=int, default=MAX_BATCH_BYTES)
    args = parser.parse_args(argv)
    try:
        if args.path is None:
            _preload()
            # One order per line, one export after the other, until the job closes stdin (no
            # order at all: not needed after all, the job stopped or had no export for it).
            while line := sys.stdin.buffer.readline():
                order = json.loads(line)
                owner = order.get("owner")
                stream(
                    Path(order["path"]),
                    sys.stdout.buffer,
                    dry_run=order["dry_run"],
                    max_bytes=order["max_bytes"],
                    owner=(str(owner[0]), str(owner[1])) if owner else None,
                    learners=order.get("learners"),
                )
                sys.stdout.buffer.flush()
        else:
            stream(args.path, sys.stdout.buffer, dry_run=args.dry_run, max_bytes=args.max_bytes)
    except (BrokenPipeError, KeyboardInterrupt):
        return 1  # the job stopped reading (a refused key, Ctrl+C): it reports on its side
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reading an export for the nightly job, in a process of its own.

Parsing the export, validating every row and encoding the records is CPU-bound Python: run
in a child process (``python -m tdba_wizard.reading``), it takes a second core while the
job's own process sends the batches and reads TDBA's answers. :class:`Readers` starts each
child ahead of its turn: it loads its modules, then reads from its standard input the one
line that says which export to read (JSON: ``path``, ``dry_run``, ``max_bytes``; for a manual
run, ``python -m tdba_wizard.reading PATH`` takes it from the command line instead). The child
never sees a key, and it writes nothing but frames on its standard output:

    4 bytes (big-endian): length of the header; the header, JSON; then ``size`` bytes of body.

Each frame's header has ``kind`` and ``rows`` (the rows read so far):

- ``read``: a block of rows was read, nothing to send yet (progress);
- ``batch``: a JSON array of ``count`` records to send (the body), ``refs`` the (line, ERP id)
  of each item;
- ``end``: the last frame, with ``rejected`` (rows refused locally), ``reasons`` (reason →
  ``{"count", "first"}``) and ``error`` (why the export could not be read, or null).

A child that stops without an ``end`` frame has failed; the job says so in its report.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import struct
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from tdba_wizard.batches import MAX_BATCH_BYTES, MAX_BATCH_ITEMS, encode_batches, encode_json

if TYPE_CHECKING:
    from tdba_wizard.records.dossier import FieldError
    from tdba_wizard.records.rows import RowValidator

# The job's own process imports this module for the frames and ReasonGroup only: the record
# rules and the export readers are loaded by the functions that run in the child.

FRAME_HEADER = struct.Struct(">I")
FIRST_LINES = 5
ROW_BLOCK = 250  # rows read and validated together


@dataclass
class ReasonGroup:
    """Rows refused for one reason: how many, and the first of them (line, ERP id)."""

    count: int = 0
    first: list[tuple[int, str | None]] = field(default_factory=list)

    def add(self, line: int, erp_id: str | None) -> None:
        self.count += 1
        if len(self.first) < FIRST_LINES:
            self.first.append((line, erp_id))


@dataclass
class Tally:
    """What reading an export found: rows read, rows refused locally and why, and the values
    TDBA will change without refusing them."""

    rows_read: int = 0
    rejected: int = 0
    reasons: dict[str, ReasonGroup] = field(default_factory=dict)
    notes: dict[str, ReasonGroup] = field(default_factory=dict)

    def reject(self, errors: list[FieldError], line: int, erp_id: str | None) -> None:
        self.rejected += 1
        for error in errors:
            reason = f"{'.'.join(error.path) or 'ligne'} : {error.message}"
            self.reasons.setdefault(reason, ReasonGroup()).add(line, erp_id)

    def note(self, notes: list[tuple[str, str]], line: int, erp_id: str | None) -> None:
        for name, note in notes:
            self.notes.setdefault(f"{name} : {note}", ReasonGroup()).add(line, erp_id)


# Valid rows, a few hundred at a time: the records to send and the (line, ERP id) of each.
Block = tuple[list[dict[str, Any]], list[tuple[int, str | None]]]


def read_and_validate(path: Path, tally: Tally) -> Iterator[Block]:
    """Yield the valid rows a block at a time; count the others and group their reasons."""
    from tdba_wizard.readers import cell_converter, read_csv, read_csv_cells, reader_for
    from tdba_wizard.records.compiled import unchanged_cells
    from tdba_wizard.records.rows import RowValidator, judge_values

    reader = reader_for(path)
    if reader is read_csv:
        header, cells = read_csv_cells(path)
        if len(set(header)) == len(header):  # the fast path, for the usual export
            validator = RowValidator(header, cell_converter, unchanged_cells)
            yield from _validate_cells(validator, cells, tally)
            return
    rows = reader(path)
    while block := list(islice(rows, ROW_BLOCK)):
        checked = []
        for row in block:
            judged = judge_values(row.values)
            checked.append(
                (row.line, judged.output, judged.errors, judged.notes, _erp_given(row.values))
            )
        yield _keep_valid(checked, tally)


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
        records.append(record)
        refs.append((line, erp_id))
    return records, refs


def _validate_cells(
    validator: RowValidator, rows: Iterator[tuple[int, list[str]]], tally: Tally
) -> Iterator[Block]:
    while block := list(islice(rows, ROW_BLOCK)):
        lines = [line for line, _ in block]
        cells = [row for _, row in block]
        checked = validator.validate_rows(cells)
        if not checked.errors and not checked.notes and None not in checked.records:
            valid = cast(list[dict[str, Any]], checked.records)  # the usual block: all valid
            tally.rows_read += len(valid)
            erp_ids = [validator.erp_id(row) for row in cells]
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
        yield _keep_valid(rows_checked, tally)


def write_frame(out: BinaryIO, header: dict[str, Any], body: bytes = b"") -> None:
    """Write one frame (see the module's documentation)."""
    encoded = encode_json({**header, "size": len(body)})
    out.write(FRAME_HEADER.pack(len(encoded)))
    out.write(encoded)
    if body:
        out.write(body)
    out.flush()


def stream(path: Path, out: BinaryIO, *, dry_run: bool, max_bytes: int) -> None:
    """Read, validate and encode the export at ``path``, written as frames on ``out``."""
    from tdba_wizard.readers import SourceError

    tally = Tally()
    records: list[dict[str, Any]] = []  # read, not written yet
    refs: list[tuple[int, str | None]] = []
    error = None
    try:
        for block_records, block_refs in read_and_validate(path, tally):
            if not dry_run:
                records += block_records
                refs += block_refs
            if len(records) < MAX_BATCH_ITEMS:
                write_frame(out, {"kind": "read", "rows": tally.rows_read})
                continue
            _write_batches(out, records[:MAX_BATCH_ITEMS], refs[:MAX_BATCH_ITEMS], tally, max_bytes)
            records, refs = records[MAX_BATCH_ITEMS:], refs[MAX_BATCH_ITEMS:]
        _write_batches(out, records, refs, tally, max_bytes)
    except SourceError as failure:
        error = failure.message
    except BrokenPipeError:
        raise  # the job stopped reading: no last frame to write
    except OSError as failure:
        error = f"Lecture impossible de {path} : {failure.strerror}."

    def groups(found: dict[str, ReasonGroup]) -> dict[str, Any]:
        return {reason: {"count": g.count, "first": g.first} for reason, g in found.items()}

    end = {"kind": "end", "rows": tally.rows_read, "rejected": tally.rejected}
    write_frame(
        out,
        {**end, "reasons": groups(tally.reasons), "notes": groups(tally.notes), "error": error},
    )


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
        header = {"kind": "batch", "rows": tally.rows_read, "count": batch.count}
        write_frame(out, {**header, "refs": batch.refs}, batch.body)


def reader_command() -> list[str]:
    """Return the command of a reading process (no export in it, no secret: see the module)."""
    return [sys.executable, "-m", "tdba_wizard.reading"]


def _spawn() -> subprocess.Popen[bytes] | None:
    try:
        return subprocess.Popen(
            reader_command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # it could quote the export: never shown
        )
    except OSError:
        return None  # told when the export is to be read (Readers.take)


class Readers:
    """The reading processes of a run, each started ahead of its turn (job's side).

    One process is started at once: it loads its modules while the job loads its own and the
    configuration. :meth:`begin` then has it read the first export, before the job asks TDBA
    anything; each next process is started while the one before reads. ``close`` stops the
    processes no one took.
    """

    def __init__(self, *, max_bytes: int = MAX_BATCH_BYTES) -> None:
        self.max_bytes = max_bytes
        self._spare = _spawn()
        self._sources: list[Path | None] | None = None
        self._dry_run = False
        self._started: dict[int, subprocess.Popen[bytes]] = {}

    def begin(self, sources: Sequence[Path | None], *, dry_run: bool) -> None:
        """Take the run's exports (None: no export), in order; the first is read at once.

        Does nothing when given the same run again.
        """
        if self._sources is not None:
            if (list(sources), dry_run) != (self._sources, self._dry_run):
                raise ValueError("the exports of a run are given once")
            return
        self._sources, self._dry_run = list(sources), dry_run
        if self._sources and self._sources[0] is not None:
            with contextlib.suppress(OSError):  # take() tries again; the report says why
                self._started[0] = self._order(0)

    def take(self, index: int) -> subprocess.Popen[bytes]:
        """Return the process reading export ``index``: the caller waits for it, or kills it.

        Raises OSError when no process could be started.
        """
        process = self._started.pop(index, None) or self._order(index)
        sources = self._sources or []
        if self._spare is None and any(s is not None for s in sources[index + 1 :]):
            self._spare = _spawn()  # loads its modules while this export is read
        return process

    def _order(self, index: int) -> subprocess.Popen[bytes]:
        assert self._sources is not None and self._sources[index] is not None
        process, self._spare = self._spare, None
        if process is None and (process := _spawn()) is None:
            raise OSError("le processus de lecture n'a pas pu être lancé")
        order = {
            "path": str(self._sources[index]),
            "dry_run": self._dry_run,
            "max_bytes": self.max_bytes,
        }
        assert process.stdin is not None
        try:
            process.stdin.write(json.dumps(order).encode("utf-8") + b"\n")
            process.stdin.close()
        except BrokenPipeError:
            pass  # it stopped: its missing last frame tells the job
        return process

    def close(self) -> None:
        """Stop and wait for the processes not taken (a spare, a reading no one wanted)."""
        waiting = [*self._started.values(), *([self._spare] if self._spare else [])]
        self._started.clear()
        self._spare = None
        for process in waiting:
            process.kill()
            process.wait()
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()


def _preload() -> None:
    """Load what reading an export takes, while the job has not said which one yet."""
    import tdba_wizard.readers  # noqa: F401  (the export readers)
    from tdba_wizard.records.compiled import unchanged_cells
    from tdba_wizard.records.dossier import FIELDS

    for name in FIELDS:
        unchanged_cells(name)  # compiles the column checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tdba_wizard.reading")
    parser.add_argument("path", type=Path, nargs="?", help="default: the order on stdin")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--max-bytes", type=int, default=MAX_BATCH_BYTES)
    args = parser.parse_args(argv)
    try:
        if args.path is None:
            _preload()
            line = sys.stdin.buffer.readline()
            if not line:
                return 0  # not needed after all (the job stopped, or had no export for it)
            order = json.loads(line)
            path, dry_run, max_bytes = Path(order["path"]), order["dry_run"], order["max_bytes"]
        else:
            path, dry_run, max_bytes = args.path, args.dry_run, args.max_bytes
        stream(path, sys.stdout.buffer, dry_run=dry_run, max_bytes=max_bytes)
    except (BrokenPipeError, KeyboardInterrupt):
        return 1  # the job stopped reading (a refused key, Ctrl+C): it reports on its side
    return 0


if __name__ == "__main__":
    sys.exit(main())

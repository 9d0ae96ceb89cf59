"""The nightly job: read each establishment's export, validate, send in batches, report.

Nothing is lost: a batch that could not be delivered is kept in a spool under the state
directory and sent first on the next run (re-sending is safe, the API is idempotent). Learner
names and e-mails never reach logs or reports: rows are referred to by source line and
``id_erp_apprenant``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import functools
import json
import os
import random
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import orjson

from tdba_wizard.api import (
    Failure,
    KeyRefused,
    Ok,
    PayloadRefused,
    RateLimited,
    TdbaClient,
)
from tdba_wizard.batches import MAX_BATCH_BYTES, Batch
from tdba_wizard.config import Config, Establishment
from tdba_wizard.errors import TdbaError
from tdba_wizard.files import ensure_private_dir, write_private_atomic
from tdba_wizard.reading import FRAME_HEADER, Readers, ReasonGroup
from tdba_wizard.secrets import SecretError, SecretStore, entry_name
from tdba_wizard.state import LAST_SYNC, last_sync_entry, load_last_sync

REPORTS_KEPT = 30
Status = Literal["ok", "partial", "failed"]
T = TypeVar("T")


class ProgressCallback(Protocol):
    """Told (establishment, rows read, records sent) as a run goes; ``done`` at its end."""

    def __call__(self, name: str, read: int, sent: int, *, done: bool = False) -> None: ...


class SyncLockedError(TdbaError):
    """Another sync is running."""

    title = "Envoi déjà en cours"


@dataclass(frozen=True)
class SyncOptions:
    """How a run behaves (retries, concurrency); tests shorten the delays."""

    dry_run: bool = False
    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    concurrency: int = 2


@dataclass
class EstablishmentReport:
    """What happened to one establishment's records during a run."""

    name: str
    uai: str
    siret: str
    source: str | None = None
    rows_read: int = 0
    rejected_locally: int = 0
    local_reasons: dict[str, ReasonGroup] = field(default_factory=dict)
    notes: dict[str, ReasonGroup] = field(default_factory=dict)
    """Values TDBA accepts but changes or drops without a word, by reason."""
    sent: int = 0
    accepted: int = 0
    rejected_by_tdba: int = 0
    tdba_reasons: dict[str, ReasonGroup] = field(default_factory=dict)
    spooled: int = 0
    spool_delivered: int = 0
    duration: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def status(self) -> Status:
        """Return ok (all delivered), partial (some kept for later) or failed."""
        if self.errors and not self.sent:
            return "failed"
        if self.errors or self.spooled:
            return "partial"
        return "ok"

    def as_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (no learner data in it)."""

        def groups(reasons: dict[str, ReasonGroup]) -> list[dict[str, Any]]:
            return [
                {
                    "reason": reason,
                    "count": group.count,
                    "first": [{"line": line, "id_erp_apprenant": erp} for line, erp in group.first],
                }
                for reason, group in sorted(reasons.items(), key=lambda i: -i[1].count)
            ]

        return {
            "name": self.name,
            "uai": self.uai,
            "siret": self.siret,
            "source": self.source,
            "status": self.status,
            "rows_read": self.rows_read,
            "rejected_locally": self.rejected_locally,
            "local_reasons": groups(self.local_reasons),
            "changed_by_tdba": groups(self.notes),
            "sent": self.sent,
            "accepted": self.accepted,
            "rejected_by_tdba": self.rejected_by_tdba,
            "tdba_reasons": groups(self.tdba_reasons),
            "spooled": self.spooled,
            "spool_delivered": self.spool_delivered,
            "duration_seconds": round(self.duration, 3),
            "errors": self.errors,
        }


@dataclass
class SyncReport:
    """The whole run."""

    started_at: dt.datetime
    api_url: str
    dry_run: bool
    establishments: list[EstablishmentReport] = field(default_factory=list)
    finished_at: dt.datetime | None = None

    @property
    def ok(self) -> bool:
        """Return True when every establishment's records were all delivered."""
        return all(e.status == "ok" for e in self.establishments)

    def as_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "api_url": self.api_url,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "establishments": [e.as_json() for e in self.establishments],
        }


# -- batches and the spool ---------------------------------------------------------------


class Spool:
    """Batches of one establishment that could not be delivered, kept 0600 on disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def save(self, batch: Batch) -> None:
        if batch.spool_file is not None:
            return  # already kept from an earlier run
        ensure_private_dir(self.directory.parent)
        ensure_private_dir(self.directory)
        payload = {"refs": batch.refs, "body": batch.body.decode("utf-8")}
        name = f"{time.time_ns()}-{os.getpid()}-{batch.count}.json"
        write_private_atomic(
            self.directory / name, json.dumps(payload, ensure_ascii=False).encode("utf-8")
        )

    def pending(self) -> Iterator[Batch]:
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                body = data["body"].encode("utf-8")
                refs = [(int(line), erp) for line, erp in data["refs"]]
                count = len(json.loads(body))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a damaged file is left for a human; it is reported by count only
            yield Batch(body, count, refs, path)


# -- delivery ----------------------------------------------------------------------------


@dataclass
class _Delivery:
    outcome: str  # "delivered", "refused_key", "refused_payload", "undelivered"
    message: str = ""


class _Run:
    """One establishment's run: reads, batches, sends with bounded concurrency."""

    def __init__(
        self,
        client: TdbaClient,
        key: str,
        report: EstablishmentReport,
        spool: Spool,
        options: SyncOptions,
        progress: ProgressCallback | None,
    ) -> None:
        self.client = client
        self.key = key
        self.report = report
        self.spool = spool
        self.options = options
        self.progress = progress
        self.slots = asyncio.Semaphore(options.concurrency)
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopped = False

    async def retrying(self, call: Callable[[], Awaitable[Ok[T] | Failure]]) -> Ok[T] | Failure:
        """Run ``call`` until it succeeds, fails for good, or the attempts are spent."""
        attempt = 0
        while True:
            outcome = await call()
            attempt += 1
            if isinstance(outcome, Ok) or not outcome.retryable:
                return outcome
            if attempt >= self.options.max_attempts:
                return outcome
            await asyncio.sleep(self._delay(outcome, attempt - 1))

    async def _send(self, batch: Batch) -> _Delivery:
        outcome = await self.retrying(
            lambda: self.client.send_batch(self.key, batch.body, expected=batch.count)
        )
        if isinstance(outcome, Ok):
            self._count(batch, outcome.value)
            return _Delivery("delivered")
        if isinstance(outcome, KeyRefused):
            return _Delivery("refused_key", outcome.explanation)
        if isinstance(outcome, PayloadRefused):
            return _Delivery("refused_payload", outcome.explanation)
        return _Delivery("undelivered", outcome.explanation)

    def _delay(self, outcome: Failure, attempt: int) -> float:
        options = self.options
        if isinstance(outcome, RateLimited) and outcome.retry_after is not None:
            return min(outcome.retry_after, options.max_delay)
        backoff = min(options.max_delay, options.base_delay * 2.0**attempt)
        return backoff / 2 + random.uniform(0, backoff / 2)  # exponential, with jitter

    def _count(self, batch: Batch, result: Any) -> None:
        report = self.report
        report.sent += result.sent
        report.accepted += result.accepted
        report.rejected_by_tdba += result.rejected
        for rejection in result.rejections:
            line, erp_id = batch.refs[rejection.index]
            for path, message in rejection.errors or (("", "refusé"),):
                reason = f"{path} : {message}" if path else message
                report.tdba_reasons.setdefault(reason, ReasonGroup()).add(line, erp_id)

    async def _deliver(self, batch: Batch) -> None:
        try:
            delivery = await self._send(batch)
            report = self.report
            if delivery.outcome == "delivered":
                if batch.spool_file is not None:
                    report.spool_delivered += batch.count
                    batch.spool_file.unlink(missing_ok=True)
                return
            if delivery.outcome == "refused_payload":
                report.errors.append(f"Lot de {batch.count} dossiers refusé : {delivery.message}")
                return
            if delivery.outcome == "refused_key":
                self.stopped = True
                if delivery.message not in report.errors:
                    report.errors.append(delivery.message)
            else:
                report.errors.append(
                    f"Lot de {batch.count} dossiers non transmis : {delivery.message}"
                )
            self.spool.save(batch)
            report.spooled += batch.count
        finally:
            self.slots.release()
            if self.progress is not None:
                self.progress(self.report.name, self.report.rows_read, self.report.sent)

    async def submit(self, batch: Batch) -> None:
        await self.slots.acquire()  # back-pressure: at most `concurrency` batches in memory
        if self.stopped:  # the key was refused meanwhile: keep the batch, send nothing more
            self.slots.release()
            if batch.spool_file is None:
                self.spool.save(batch)
                self.report.spooled += batch.count
            return
        task = asyncio.create_task(self._deliver(batch))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        # Let the request go out now, so TDBA works on this batch while the next one is read.
        await asyncio.sleep(0)

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks))


class _Reader:
    """The export, read by a child process (:mod:`tdba_wizard.reading`): its batches in turn.

    Parsing, validating and encoding take a second core meanwhile; this process sends the
    batches and reads TDBA's answers. The child blocks while its pipe is full: it is never
    more than a few batches ahead (this side stops reading past 8 MB not yet taken).
    """

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        source: Path,
        report: EstablishmentReport,
        tick: Callable[[], None] | None,
    ) -> None:
        self.process = process
        self.source = source
        self.report = report
        self.tick = tick  # called at each frame (progress while reading)
        self.stdout = asyncio.StreamReader(limit=MAX_BATCH_BYTES // 2)  # pauses past twice
        self.transport: asyncio.ReadTransport | None = None
        self.ended = False

    async def start(self) -> None:
        assert self.process.stdout is not None
        protocol = asyncio.StreamReaderProtocol(self.stdout)
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.connect_read_pipe(lambda: protocol, self.process.stdout)

    async def next(self) -> Batch | None:
        """Return the next batch to send; None once the export is read, or could not be."""
        while (frame := await self._frame()) is not None:
            header, body = frame
            self.report.rows_read = header["rows"]
            if self.tick is not None:
                self.tick()
            if header["kind"] == "batch":
                return Batch(body, header["count"], [(line, erp) for line, erp in header["refs"]])
            if header["kind"] == "end":
                self._end(header)
                return None
        code = await asyncio.to_thread(self.process.wait)
        self.report.errors.append(
            f"La lecture de {self.source} s'est arrêtée en cours de route (code {code}) : "
            "relancez l'envoi ; si cela se reproduit, « tdba-wizard sync --dry-run » le vérifie."
        )
        return None

    async def _frame(self) -> tuple[dict[str, Any], bytes] | None:
        stdout = self.stdout
        try:
            (size,) = FRAME_HEADER.unpack(await stdout.readexactly(FRAME_HEADER.size))
            header: dict[str, Any] = orjson.loads(await stdout.readexactly(size))
            body = await stdout.readexactly(header["size"]) if header["size"] else b""
        except (asyncio.IncompleteReadError, ValueError, KeyError, TypeError):
            return None  # the child stopped, or wrote something else than frames
        return header, body

    def _end(self, header: dict[str, Any]) -> None:
        self.ended = True
        report = self.report
        report.rejected_locally = header["rejected"]
        report.local_reasons = _groups(header["reasons"])
        report.notes = _groups(header.get("notes", {}))
        if header["error"]:
            report.errors.append(header["error"])

    async def close(self) -> None:
        """Wait for the child; stop it first when its export was not read to the end."""
        if not self.ended and self.process.poll() is None:
            self.process.kill()  # e.g. the key was refused meanwhile: the rest is not sent
        if self.transport is not None:
            self.transport.close()
        elif self.process.stdout is not None:
            self.process.stdout.close()
        await asyncio.to_thread(self.process.wait)


def _groups(found: dict[str, Any]) -> dict[str, ReasonGroup]:
    return {
        reason: ReasonGroup(group["count"], [(line, erp) for line, erp in group["first"]])
        for reason, group in found.items()
    }


async def _sync_establishment(
    client: TdbaClient,
    establishment: Establishment,
    store: SecretStore,
    spool_root: Path,
    options: SyncOptions,
    progress: ProgressCallback | None,
    readers: Callable[[], subprocess.Popen[bytes]],
) -> EstablishmentReport:
    report = EstablishmentReport(establishment.name, establishment.uai, establishment.siret)
    started = time.perf_counter()
    source = establishment.source_path()
    report.source = str(source) if source else None
    reader: _Reader | None = None
    try:
        if source is not None:  # being read already, while the key is read and TDBA asked
            try:
                process = readers()
            except OSError as error:
                report.errors.append(f"Lecture impossible de {source} : {error}.")
                return report
            reader = _Reader(
                process,
                source,
                report,
                tick=None
                if progress is None
                else lambda: progress(report.name, report.rows_read, report.sent),
            )
            await reader.start()
        try:
            key = store.get(establishment.uai, establishment.siret).value
        except SecretError as error:
            report.errors.append(error.message)
            return report  # its reading is stopped (below), not left waiting until the end
        spool = Spool(spool_root / entry_name(establishment.uai, establishment.siret))
        run = _Run(client, key, report, spool, options, progress)
        if not options.dry_run:
            # One cheap request first: a refused key or an unreachable TDBA stops here, before
            # anything is sent (the export is read again on the next run).
            checked = await run.retrying(lambda: client.check_key(key))
            if isinstance(checked, Failure):
                report.errors.append(checked.explanation)
                return report
            for pending in spool.pending():
                if run.stopped:
                    break
                await run.submit(pending)
            await run.drain()
        if reader is None:
            report.errors.append(
                "Aucun export (« source ») n'est indiqué pour cet établissement : ajoutez le "
                "chemin du fichier produit par l'ERP."
            )
            return report
        while not run.stopped and (batch := await reader.next()) is not None:
            await run.submit(batch)
        await run.drain()
        return report
    finally:
        if reader is not None:
            await reader.close()
        report.duration = time.perf_counter() - started
        if progress is not None:
            progress(report.name, report.rows_read, report.sent, done=True)


@contextmanager
def sync_lock(state_dir: Path) -> Iterator[None]:
    """Hold the run lock, or raise :class:`SyncLockedError` at once if another run holds it."""
    ensure_private_dir(state_dir)
    path = state_dir / "sync.lock"
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise SyncLockedError(
                f"Un envoi est déjà en cours (processus {holder}) : celui-ci s'arrête sans rien "
                "faire. Si aucun envoi ne tourne, le verrou sera libéré à la fin du processus."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


async def run_sync(
    config: Config,
    store: SecretStore,
    state_dir: Path,
    options: SyncOptions = SyncOptions(),
    progress: ProgressCallback | None = None,
    readers: Readers | None = None,
) -> SyncReport:
    """Send every establishment's records; return the report (not yet written).

    ``readers`` may have started reading already (the command starts it before loading its
    own modules); one is made here otherwise. Its processes are all stopped on return.
    """
    report = SyncReport(dt.datetime.now(dt.UTC), config.api.url, options.dry_run)
    if readers is None:
        readers = Readers()
    try:
        readers.begin([e.source_path() for e in config.establishments], dry_run=options.dry_run)
        async with TdbaClient(config.api.url, max_connections=options.concurrency * 2) as client:
            for index, establishment in enumerate(config.establishments):
                report.establishments.append(
                    await _sync_establishment(
                        client,
                        establishment,
                        store,
                        state_dir / "spool",
                        options,
                        progress,
                        functools.partial(readers.take, index),
                    )
                )
    finally:
        readers.close()
    report.finished_at = dt.datetime.now(dt.UTC)
    return report


# -- persisted results -------------------------------------------------------------------


def render_text(report: SyncReport, timezone: str = "Europe/Paris") -> str:
    """Return the French text report (no learner data)."""
    from zoneinfo import ZoneInfo

    local = report.started_at.astimezone(ZoneInfo(timezone))
    finished = report.finished_at or report.started_at
    seconds = (finished - report.started_at).total_seconds()
    verdict = "OK" if report.ok else "À VÉRIFIER"
    mode = " (simulation : rien n'a été envoyé)" if report.dry_run else ""
    lines = [
        f"Envoi TDBA du {local:%d/%m/%Y à %H:%M} ({timezone}){mode} — {verdict}",
        f"API : {report.api_url} — durée totale : {_seconds(seconds)}",
    ]
    for e in report.establishments:
        lines += ["", f"« {e.name} » (UAI {e.uai}, SIRET {e.siret})"]
        if e.source:
            lines.append(f"  Export : {e.source}")
        lines.append(f"  Lignes lues : {e.rows_read}")
        lines.append(f"  Refusées avant envoi : {e.rejected_locally}")
        lines += _reason_lines(e.local_reasons)
        if e.notes:
            lines.append("  Valeurs que TDBA modifiera ou ignorera sans les refuser :")
            lines += _reason_lines(e.notes)
        if not report.dry_run:
            lines.append(
                f"  Envoyées : {e.sent} ; acceptées par TDBA : {e.accepted} ; refusées par "
                f"TDBA : {e.rejected_by_tdba}"
            )
            lines += _reason_lines(e.tdba_reasons)
            if e.spool_delivered:
                lines.append(f"  Dont reprises d'un envoi précédent : {e.spool_delivered}")
            lines.append(f"  Conservées pour le prochain envoi : {e.spooled}")
        for error in e.errors:
            lines.append(f"  ✖ {error}")
        lines.append(f"  Durée : {_seconds(e.duration)}")
    return "\n".join(lines) + "\n"


def _seconds(value: float) -> str:
    return f"{value:.1f} s".replace(".", ",")


def _reason_lines(reasons: dict[str, ReasonGroup]) -> list[str]:
    out = []
    for reason, group in sorted(reasons.items(), key=lambda item: -item[1].count):
        refs = ", ".join(f"l.{line}" + (f" (id {erp})" if erp else "") for line, erp in group.first)
        more = " …" if group.count > len(group.first) else ""
        out.append(f"    - {reason} — {group.count} ligne(s) : {refs}{more}")
    return out


def save_results(report: SyncReport, state_dir: Path, text: str) -> Path:
    """Write the text and JSON reports, prune old ones, update ``last-sync.json``."""
    reports = state_dir / "reports"
    ensure_private_dir(state_dir)
    ensure_private_dir(reports)
    stamp = report.started_at.strftime("%Y%m%d-%H%M%S")
    text_path = reports / f"sync-{stamp}.txt"
    write_private_atomic(text_path, text.encode("utf-8"))
    data = report.as_json()
    write_private_atomic(
        reports / f"sync-{stamp}.json",
        (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8"),
    )
    for old in sorted(reports.glob("sync-*.txt"))[:-REPORTS_KEPT]:
        old.unlink(missing_ok=True)
        old.with_suffix(".json").unlink(missing_ok=True)
    _update_last_sync(report, state_dir)
    return text_path


def _update_last_sync(report: SyncReport, state_dir: Path) -> None:
    last = load_last_sync(state_dir)
    finished = (report.finished_at or report.started_at).isoformat()
    previous = last.get("establishments")
    establishments = dict(previous) if isinstance(previous, dict) else {}
    for e in report.establishments:
        before = last_sync_entry(last, e.uai, e.siret) or {}
        delivered = e.sent > 0 or e.spool_delivered > 0
        establishments[entry_name(e.uai, e.siret)] = {
            "name": e.name,
            "last_attempt": finished,
            "status": e.status,
            "last_success": finished if e.status == "ok" else before.get("last_success"),
            "last_transmission": finished if delivered else before.get("last_transmission"),
            "spooled": e.spooled,
        }
    data = {"finished_at": finished, "ok": report.ok, "establishments": establishments}
    write_private_atomic(
        state_dir / LAST_SYNC,
        (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8"),
    )

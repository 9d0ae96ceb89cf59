"""Sending batches to TDBA: bounded concurrency, retries with backoff, and the spool.

Nothing is lost: a batch that could not be delivered is kept in a spool under the state
directory and sent first on the next run (re-sending is safe, the API is idempotent).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from tdba_wizard.api import (
    Failure,
    KeyRefused,
    Ok,
    PayloadRefused,
    RateLimited,
    TdbaClient,
)
from tdba_wizard.files import ensure_private_dir, write_private_atomic
from tdba_wizard.nightly.batches import Batch
from tdba_wizard.nightly.frames import ReasonGroup
from tdba_wizard.nightly.reading import PROCESSES
from tdba_wizard.nightly.report import EstablishmentReport

T = TypeVar("T")


class ProgressCallback(Protocol):
    """Told (establishment, rows read, records sent) as a run goes; ``done`` at its end."""

    def __call__(self, name: str, read: int, sent: int, *, done: bool = False) -> None: ...


@dataclass(frozen=True)
class SyncOptions:
    """How a run behaves (retries, concurrency); tests shorten the delays."""

    dry_run: bool = False
    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    concurrency: int = 2
    """Batches of one establishment in flight at once."""
    at_once: int = PROCESSES
    """Establishments sent at once (one reading process each)."""
    deadline: float | None = None
    """Seconds for the whole run (None: no limit)."""
    establishment_deadline: float | None = None
    """Seconds for one establishment (None: no limit)."""
    hold_unmatched: bool = False
    """Keep back the records whose formateur or responsable TDBA does not know."""


QUARANTINE = "quarantaine"


class Spool:
    """Batches of one establishment that could not be delivered, kept 0600 on disk.

    A file that cannot be read back as a batch is moved aside to ``quarantaine/`` and named
    in the report: it never blocks a run, and it is never silently ignored.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.quarantined: list[Path] = []

    def save(self, batch: Batch) -> None:
        """Keep a batch for the next run; raises OSError when it cannot be written."""
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
        """Yield the kept batches, oldest first; move a damaged file to quarantine."""
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.json")):
            try:
                batch = self._load(path)
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                self._set_aside(path)
                continue
            yield batch

    @staticmethod
    def _load(path: Path) -> Batch:
        data = json.loads(path.read_text(encoding="utf-8"))
        body = data["body"].encode("utf-8")
        refs = [(int(line), erp if erp is None else str(erp)) for line, erp in data["refs"]]
        items = json.loads(body)
        if not isinstance(items, list) or not items or len(items) != len(refs):
            raise ValueError("not a batch")
        return Batch(body, len(items), refs, path)

    def _set_aside(self, path: Path) -> None:
        target = self.directory / QUARANTINE / path.name
        try:
            ensure_private_dir(target.parent)
            path.replace(target)
        except OSError:
            target = path  # left where it is; still named in the report
        self.quarantined.append(target)


@dataclass
class Delivery:
    outcome: str  # "delivered", "refused_key", "refused_payload", "undelivered"
    message: str = ""


class Sender:
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

    async def _send(self, batch: Batch) -> Delivery:
        outcome = await self.retrying(
            lambda: self.client.send_batch(self.key, batch.body, expected=batch.count)
        )
        if isinstance(outcome, Ok):
            self._count(batch, outcome.value)
            return Delivery("delivered")
        if isinstance(outcome, KeyRefused):
            return Delivery("refused_key", outcome.explanation)
        if isinstance(outcome, PayloadRefused):
            return Delivery("refused_payload", outcome.explanation)
        return Delivery("undelivered", outcome.explanation)

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
            try:
                delivery = await self._send(batch)
            except asyncio.CancelledError:  # the deadline: TDBA may or may not have it
                self._keep(batch)  # sending it again is safe (the API is idempotent)
                raise
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
            self._keep(batch)
        finally:
            self.slots.release()
            if self.progress is not None:
                self.progress(self.report.name, self.report.rows_read, self.report.sent)

    def _keep(self, batch: Batch) -> None:
        """Put an undelivered batch in the spool; when even that fails, stop sending."""
        try:
            self.spool.save(batch)
        except OSError as error:
            self.stopped = True
            message = (
                f"Dossiers ni transmis ni conservés ({error.strerror or type(error).__name__}, "
                f"{self.spool.directory}) : l'envoi de cet établissement s'arrête ; ils seront "
                "relus dans l'export au prochain envoi."
            )
            if message not in self.report.errors:
                self.report.errors.append(message)
            return
        self.report.spooled += batch.count

    async def submit(self, batch: Batch) -> None:
        await self.slots.acquire()  # back-pressure: at most `concurrency` batches in memory
        if self.stopped:  # the key was refused meanwhile: keep the batch, send nothing more
            self.slots.release()
            self._keep(batch)
            return
        task = asyncio.create_task(self._deliver(batch))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        # Let the request go out now, so TDBA works on this batch while the next one is read.
        await asyncio.sleep(0)

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks))

    async def abort(self) -> None:
        """Stop sending: cancel the batches in flight (each is kept in the spool)."""
        self.stopped = True
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

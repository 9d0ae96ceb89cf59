"""The nightly job: read each establishment's export, validate, send in batches, report.

The exports are read by child processes (:mod:`~tdba_wizard.nightly.reading`) while this
one sends (:mod:`~tdba_wizard.nightly.delivery`); what happened goes into the report
(:mod:`~tdba_wizard.nightly.report`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import functools
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tdba_wizard.api import Failure, TdbaClient
from tdba_wizard.config import Config, Establishment
from tdba_wizard.errors import TdbaError
from tdba_wizard.files import ensure_private_dir
from tdba_wizard.nightly.batches import Batch
from tdba_wizard.nightly.delivery import ProgressCallback, Sender, Spool, SyncOptions
from tdba_wizard.nightly.frames import (
    FRAME_HEADER,
    BatchFrame,
    EndFrame,
    decode,
    decode_header,
)
from tdba_wizard.nightly.reading import Readers
from tdba_wizard.nightly.report import EstablishmentReport, SyncReport
from tdba_wizard.secrets import SecretError, SecretStore, entry_name
from tdba_wizard.wire import MAX_BATCH_BYTES

__all__ = ["ProgressCallback", "SyncLockedError", "SyncOptions", "run_sync", "sync_lock"]


class SyncLockedError(TdbaError):
    """Another sync is running."""

    title = "Envoi déjà en cours"


class _Reader:
    """The export, read by a child process (:mod:`~tdba_wizard.nightly.reading`): its
    batches in turn.

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
            self.report.rows_read = frame.rows
            if self.tick is not None:
                self.tick()
            if isinstance(frame, BatchFrame):
                return Batch(frame.body, frame.count, frame.refs)
            if isinstance(frame, EndFrame):
                self._end(frame)
                return None
        code = await asyncio.to_thread(self.process.wait)
        self.report.errors.append(
            f"La lecture de {self.source} s'est arrêtée en cours de route (code {code}) : "
            "relancez l'envoi ; si cela se reproduit, « tdba-wizard sync --dry-run » le vérifie."
        )
        return None

    async def _frame(self) -> BatchFrame | EndFrame | Any | None:
        stdout = self.stdout
        try:
            (size,) = FRAME_HEADER.unpack(await stdout.readexactly(FRAME_HEADER.size))
            header = decode_header(await stdout.readexactly(size))
            body = await stdout.readexactly(header["size"]) if header["size"] else b""
            return decode(header, body)
        except (asyncio.IncompleteReadError, ValueError, KeyError, TypeError):
            return None  # the child stopped, or wrote something else than frames

    def _end(self, frame: EndFrame) -> None:
        self.ended = True
        report = self.report
        report.rejected_locally = frame.rejected
        report.local_reasons = frame.reasons
        report.notes = frame.notes
        if frame.error:
            report.errors.append(frame.error)

    async def close(self) -> None:
        """Wait for the child; stop it first when its export was not read to the end."""
        if not self.ended and self.process.poll() is None:
            self.process.kill()  # e.g. the key was refused meanwhile: the rest is not sent
        if self.transport is not None:
            self.transport.close()
        elif self.process.stdout is not None:
            self.process.stdout.close()
        await asyncio.to_thread(self.process.wait)


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
        run = Sender(client, key, report, spool, options, progress)
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
    options: SyncOptions | None = None,
    progress: ProgressCallback | None = None,
    readers: Readers | None = None,
) -> SyncReport:
    """Send every establishment's records; return the report (not yet written).

    ``readers`` may have started reading already (the command starts it before loading its
    own modules); one is made here otherwise. Its processes are all stopped on return.
    """
    options = options or SyncOptions()
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

"""The nightly job: read each establishment's export, validate, send in batches, report.

The exports are read by child processes (:mod:`~tdba_wizard.nightly.reading`) while this
one sends (:mod:`~tdba_wizard.nightly.delivery`); what happened goes into the report
(:mod:`~tdba_wizard.nightly.report`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import functools
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tdba_wizard.api import Failure, TdbaClient
from tdba_wizard.config import Config, Establishment
from tdba_wizard.errors import TdbaError
from tdba_wizard.files import ensure_private_dir
from tdba_wizard.identifiers import IdentifierError, parse_api_key
from tdba_wizard.nightly.batches import Batch
from tdba_wizard.nightly.delivery import ProgressCallback, Sender, Spool, SyncOptions
from tdba_wizard.nightly.frames import (
    FRAME_HEADER,
    BatchFrame,
    EndFrame,
    decode,
    decode_header,
)
from tdba_wizard.nightly.later import PairReport, predict
from tdba_wizard.nightly.organismes import OrganismeDirectory
from tdba_wizard.nightly.reading import Readers, ReadingProcess, learner_orders
from tdba_wizard.nightly.report import EstablishmentReport, SyncReport
from tdba_wizard.secrets import SecretError, SecretStore, entry_name
from tdba_wizard.text import clean
from tdba_wizard.wire import MAX_BATCH_BYTES

__all__ = ["ProgressCallback", "SyncLockedError", "SyncOptions", "run_sync", "sync_lock"]


class SyncLockedError(TdbaError):
    """Another sync is running."""

    title = "Envoi déjà en cours"


class SyncLockError(TdbaError):
    """The run lock cannot be created (the state directory is unusable)."""

    title = "Envoi impossible"


class _Reader:
    """One export, read by a child process (:mod:`~tdba_wizard.nightly.reading`): its
    batches in turn.

    Parsing, validating and encoding take another core meanwhile; this process sends the
    batches and reads TDBA's answers. The child blocks while its pipe is full: it is never
    more than a few batches ahead (this side stops reading past 8 MB not yet taken). Its
    standard error is read all along (the child can never block on it), and its last line
    names the cause when the child stops without saying why itself.
    """

    def __init__(
        self,
        process: ReadingProcess,
        source: Path,
        report: EstablishmentReport,
        tick: Callable[[], None] | None,
    ) -> None:
        self.child = process
        self.process = process.popen
        self.source = source
        self.report = report
        self.tick = tick  # called at each frame (progress while reading)
        self.stdout: asyncio.StreamReader | None = None
        self.ended = False

    async def start(self) -> None:
        self.stdout = await self.child.attach(MAX_BATCH_BYTES // 2)  # pauses past twice

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
        garbled = self.process.poll() is None  # it wrote something else than a frame
        if garbled:
            self.process.kill()
        code = await asyncio.to_thread(self.process.wait)
        await asyncio.sleep(0.05)  # the last of its standard error
        self.report.errors.append(self._stopped(code, garbled))
        return None

    def _stopped(self, code: int, garbled: bool = False) -> str:
        """Say why the child stopped without its last frame, as far as it can be known."""
        if garbled:
            how = "arrêtée : le processus de lecture a écrit autre chose que des lots"
        elif code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = str(-code)
            how = f"arrêtée par le signal {name}"
            if -code == signal.SIGKILL:
                how += " (le système manquait peut-être de mémoire)"
        else:
            how = f"arrêtée sans finir (code {code})"
        lines = [
            line.strip()
            for line in self.child.stderr_tail.decode("utf-8", errors="replace").splitlines()
            if line.strip()
        ]
        cause = f" ; cause : « {clean(lines[-1], 200)} »" if lines else ""
        return (
            f"La lecture de {clean(self.source, 300)} s'est {how}{cause}. Les lignes non lues "
            "n'ont pas été envoyées ; relancez l'envoi, et si cela se reproduit, « tdba-wizard "
            "sync --dry-run » le vérifie."
        )

    async def _frame(self) -> BatchFrame | EndFrame | Any | None:
        stdout = self.stdout
        assert stdout is not None
        try:
            (size,) = FRAME_HEADER.unpack(await stdout.readexactly(FRAME_HEADER.size))
            header = decode_header(await stdout.readexactly(size))
            body = await stdout.readexactly(header["size"]) if header["size"] else b""
            return decode(header, body)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, KeyError,
                TypeError, IndexError):  # fmt: skip
            return None  # the child stopped, or wrote something else than frames

    def _end(self, frame: EndFrame) -> None:
        self.ended = True
        report = self.report
        report.rejected_locally = frame.rejected
        report.local_reasons = frame.reasons
        report.notes = frame.notes
        report.attention = frame.attention
        report.header = list(frame.header)
        report.duplicates = frame.duplicates
        report.unverified += frame.unpaired
        try:
            report.pairs = [PairReport.from_json(pair) for pair in frame.pairs]
        except (KeyError, TypeError, ValueError, IndexError):
            report.pairs = []
        if frame.error:
            report.errors.append(frame.error)

    async def close(self, give_back: Callable[[ReadingProcess], None] | None) -> None:
        """Give the child back when its export was read to the end (it reads another); else
        stop it (e.g. the key was refused meanwhile: the rest is not sent)."""
        if not self.ended or self.process.poll() is not None or give_back is None:
            self.child.stop()
            await asyncio.to_thread(self.process.wait)
        if give_back is not None:
            give_back(self.child)


async def _sync_establishment(
    report: EstablishmentReport,
    client: TdbaClient,
    establishment: Establishment,
    store: SecretStore,
    spool_root: Path,
    options: SyncOptions,
    progress: ProgressCallback | None,
    readers: Callable[[], ReadingProcess],
    directory: OrganismeDirectory | None = None,
    give_back: Callable[[ReadingProcess], None] | None = None,
) -> None:
    """Send one establishment's records; what happens goes into ``report`` as it happens (so
    that a run stopped by its deadline still says what was done). Once the export is read,
    what TDBA's processing will reject is predicted (``directory`` looks the couples up)."""
    started = time.perf_counter()
    source = establishment.source_path()
    report.source = str(source) if source else None
    reader: _Reader | None = None
    run: Sender | None = None
    try:
        if source is not None:  # being read already, while the key is read and TDBA asked
            try:
                process = readers()
            except OSError as error:
                report.errors.append(f"Lecture impossible de {source} : {error}.")
                return
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
            key = parse_api_key(
                await asyncio.to_thread(
                    lambda: store.get(establishment.uai, establishment.siret).value
                )
            )
        except SecretError as error:
            report.errors.append(error.message)
            return  # its reading is stopped (below), not left waiting until the end
        except IdentifierError as error:
            report.errors.append(f"Clé d'échange enregistrée mal formée : {error}")
            return
        spool = Spool(spool_root / entry_name(establishment.uai, establishment.siret))
        run = Sender(client, key, report, spool, options, progress)
        if not options.dry_run:
            pending = list(spool.pending())
            for damaged in spool.quarantined:
                report.warnings.append(
                    f"Fichier en attente endommagé, mis de côté sans être envoyé : {damaged} "
                    "(les dossiers qu'il contenait seront relus dans l'export)."
                )
            # One cheap request first: a refused key or an unreachable TDBA stops here, before
            # anything is sent (the export is read again on the next run).
            checked = await run.retrying(lambda: client.check_key(key))
            if isinstance(checked, Failure):
                report.errors.append(checked.explanation)
                return
            for kept in pending:
                if run.stopped:
                    break
                await run.submit(kept)
            await run.drain()
        if reader is None:
            report.errors.append(
                "Aucun export (« source ») n'est indiqué pour cet établissement : ajoutez le "
                "chemin du fichier produit par l'ERP."
            )
            return
        while not run.stopped and (batch := await reader.next()) is not None:
            if options.hold_unmatched and directory is not None:
                held = await hold_unmatched(batch, report, directory)
                if held is None:
                    continue
                batch = held
            await run.submit(batch)
        await run.drain()
        if reader.ended and directory is not None:
            await predict_processing(report, directory, held=options.hold_unmatched)
    except asyncio.CancelledError:
        if run is not None:
            await asyncio.shield(run.abort())  # batches in flight are kept for the next run
        raise
    finally:
        if reader is not None:
            await asyncio.shield(reader.close(give_back))
        report.duration = time.perf_counter() - started
        if progress is not None:
            progress(report.name, report.rows_read, report.sent, done=True)


async def hold_unmatched(
    batch: Batch, report: EstablishmentReport, directory: OrganismeDirectory
) -> Batch | None:
    """Take out of a batch the records whose formateur or responsable TDBA does not know
    (they are counted in the report); None when nothing is left to send."""
    from tdba_wizard.records.dossier import FIELDS
    from tdba_wizard.records.processing import FORMATEUR, RESPONSABLE
    from tdba_wizard.wire import encode_json

    records = json.loads(batch.body)

    def couple(record: dict[str, Any], fields: tuple[str, str]) -> tuple[str, str]:
        return (
            str(FIELDS[fields[0]].rule(record.get(fields[0])).value),
            str(FIELDS[fields[1]].rule(record.get(fields[1])).value),
        )

    roles = [(couple(r, FORMATEUR), couple(r, RESPONSABLE)) for r in records]
    known = await directory.lookup({c for pair in roles for c in pair})
    kept, refs = [], []
    for record, ref, pair in zip(records, batch.refs, roles, strict=True):
        if any((k := known.get(c)) is not None and not k.found for c in pair):
            report.held.add(*ref)
            continue
        kept.append(record)
        refs.append(ref)
    if not kept:
        return None
    if len(kept) == len(records):
        return batch
    return Batch(encode_json(kept), len(kept), refs)


async def predict_processing(
    report: EstablishmentReport, directory: OrganismeDirectory, *, held: bool = False
) -> None:
    """Look the export's couples up and predict what TDBA's processing will reject (with
    ``held``, the records of unknown organismes were kept back: they are not predicted)."""
    couples = {c for pair in report.pairs for c in (pair.formateur, pair.responsable)}
    if not couples:
        return
    try:
        known = await directory.lookup(couples)
    except Exception:  # the look-up cannot fail the run: the couples are not verified
        known = dict.fromkeys(couples)
    found = {couple: None if k is None else k.found for couple, k in known.items()}
    predicted = predict(report.pairs, found, skip_missing=held)
    report.predicted = predicted.groups
    report.predicted_failing = predicted.failing
    report.unverified += predicted.unverified
    for (uai, siret), k in sorted(known.items()):
        if k is not None and k.found and k.ferme:
            report.warnings.append(
                f"TDBA connaît l'établissement UAI {uai} / SIRET {siret} (« {k.name} ») comme "
                "fermé : vérifiez les dossiers qui le désignent."
            )


LOCK_GRACE = 600.0
"""Seconds past its own deadline after which a run still holding the lock is stopped."""


@contextmanager
def sync_lock(state_dir: Path, deadline: float | None = None) -> Iterator[list[str]]:
    """Hold the run lock; yield the warnings of taking it (a stuck run stopped).

    The lock file says which process holds it, since when, and its deadline. A run that
    still holds it well past that deadline is stuck (a hung disk, a stopped machine): it is
    stopped and the lock taken over, said in the report. Otherwise :class:`SyncLockedError`
    names the holder and its age.
    """
    ensure_private_dir(state_dir)
    path = state_dir / "sync.lock"
    try:
        handle = path.open("a+b", buffering=0)  # unbuffered: no write left for close()
    except OSError as error:
        raise SyncLockError(
            f"Verrou de l'envoi impossible à créer dans {state_dir} ({error.strerror}) : rien "
            "n'a été envoyé."
        ) from None
    warnings: list[str] = []
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(handle)
            warning = _take_over(handle, holder)
            if warning is None:
                raise SyncLockedError(_busy(holder)) from None
            warnings.append(warning)
        holder = {
            "pid": os.getpid(),
            "started": dt.datetime.now(dt.UTC).isoformat(),
            "deadline_seconds": deadline,
        }
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(holder).encode("utf-8"))
        except OSError:  # a full disk: the lock is held all the same (flock), just not named
            pass
        yield warnings
    finally:
        handle.close()


def _holder(handle: Any) -> dict[str, Any]:
    handle.seek(0)
    text = handle.read().decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return {"pid": int(text)} if text.isdigit() else {}
    return data if isinstance(data, dict) else {}


def _age(holder: dict[str, Any]) -> float | None:
    try:
        started = dt.datetime.fromisoformat(str(holder["started"]))
    except (KeyError, ValueError):
        return None
    return (dt.datetime.now(dt.UTC) - started).total_seconds()


def _describe(holder: dict[str, Any]) -> str:
    pid = holder.get("pid", "?")
    age = _age(holder)
    since = f", depuis {age / 60:.0f} min" if age is not None else ""
    return f"processus {pid}{since}"


def _busy(holder: dict[str, Any]) -> str:
    return (
        f"Un envoi est déjà en cours ({_describe(holder)}) : celui-ci s'arrête sans rien faire. "
        "S'il est bloqué, il sera arrêté par l'envoi suivant une fois son délai dépassé."
    )


def _is_ours(pid: int) -> bool:
    """Return True when ``pid`` runs tdba-wizard (a recycled pid must never be killed)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"tdba" in command or b"tdba_wizard" in command


def _take_over(handle: Any, holder: dict[str, Any]) -> str | None:
    """Stop a run stuck past its deadline and take its lock; None when it is not stuck."""
    age, deadline, pid = _age(holder), holder.get("deadline_seconds"), holder.get("pid")
    if age is None or not isinstance(deadline, (int, float)) or not isinstance(pid, int):
        return None
    if age <= deadline + LOCK_GRACE or not _is_ours(pid):
        return None
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        end = time.monotonic() + wait
        while time.monotonic() < end:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                time.sleep(0.1)
                continue
            return (
                f"L'envoi précédent ({_describe(holder)}) tenait encore le verrou bien après "
                f"son délai ({deadline / 60:.0f} min) : il a été arrêté ({sig.name}) et "
                "celui-ci a pris la suite."
            )
    return None


def _keep_learners(
    learners: dict[str, str] | None, report: EstablishmentReport, dry_run: bool
) -> None:
    """Make the index what was sent tonight, once TDBA took something; else forget it."""
    if learners is None:
        return
    pending, index = Path(learners["pending"]), Path(learners["index"])
    try:
        if not dry_run and report.delivered > 0 and pending.exists():
            os.replace(pending, index)
        else:
            pending.unlink(missing_ok=True)
    except OSError:
        pass  # the index stays as it was: duplicates are still told against the last one


def exports_of(config: Config) -> list[Path | None]:
    """The export each establishment's reading process reads (None: none to read, or it is
    not tdba-wizard that sends)."""
    return [e.source_path() if e.transmission == "export" else None for e in config.establishments]


async def run_sync(
    config: Config,
    store: SecretStore,
    state_dir: Path,
    options: SyncOptions | None = None,
    progress: ProgressCallback | None = None,
    readers: Readers | None = None,
) -> SyncReport:
    """Send every establishment's records; return the report (not yet written).

    A few establishments are sent at once (``options.at_once``, one reading process each),
    the others waiting their turn in the configuration's order; the report keeps that order.
    ``readers`` may have started reading already (the command starts it before loading its
    own modules); one is made here otherwise. Its processes are all stopped on return. Each
    establishment has its deadline, the run has its own: past it, what is left is stopped
    and said, never waited for.
    """
    options = options or SyncOptions()
    report = SyncReport(dt.datetime.now(dt.UTC), config.api.url, options.dry_run)
    if readers is None:
        readers = Readers(processes=options.at_once)
    began = time.monotonic()
    learners = learner_orders(config.establishments, state_dir)
    turns: list[tuple[int, Establishment, EstablishmentReport]] = []
    for index, establishment in enumerate(config.establishments):
        if establishment.transmission != "export":
            how = "son ERP transmet lui-même" if establishment.transmission == "erp" else (
                "import du modèle Excel")  # fmt: skip
            report.elsewhere.append(f"« {establishment.name} » ({how})")
            continue
        one = EstablishmentReport(
            establishment.name, establishment.uai, establishment.siret, dry_run=options.dry_run
        )
        report.establishments.append(one)
        turns.append((index, establishment, one))
    waiting = iter(turns)  # each lane takes the next establishment when it is free
    try:
        readers.begin(
            exports_of(config),
            dry_run=options.dry_run,
            owners=[(e.uai, e.siret) for e in config.establishments],
            learners=learners,
        )
        # All the keys in one keyring read (one search of the Secret Service), while the
        # first exports are read; each establishment then takes its own from it.
        await asyncio.to_thread(store.prefetch, [(e.uai, e.siret) for _, e, _ in turns])
        lanes = max(1, min(options.at_once, len(turns)))
        async with TdbaClient(
            config.api.url, max_connections=options.concurrency * 2 * lanes
        ) as client:
            directory = OrganismeDirectory(client, state_dir)

            async def lane() -> None:
                for index, establishment, one in waiting:
                    await _one_turn(index, establishment, one)

            async def _one_turn(
                index: int, establishment: Establishment, one: EstablishmentReport
            ) -> None:
                left = None if options.deadline is None else options.deadline - (
                    time.monotonic() - began
                )  # fmt: skip
                if left is not None and left <= 0:
                    minutes = (options.deadline or 0) / 60
                    one.errors.append(
                        f"Non traité : le délai de l'envoi ({minutes:.0f} min) est dépassé. Ses "
                        "dossiers partiront au prochain envoi."
                    )
                    return
                limit = min(
                    (t for t in (left, options.establishment_deadline) if t is not None),
                    default=None,
                )
                try:
                    await asyncio.wait_for(
                        _sync_establishment(
                            one,
                            client,
                            establishment,
                            store,
                            state_dir / "spool",
                            options,
                            progress,
                            functools.partial(readers.take, index),
                            directory,
                            readers.give_back,
                        ),
                        limit,
                    )
                except TimeoutError:
                    one.errors.append(
                        f"Délai dépassé ({(limit or 0) / 60:.0f} min) : l'envoi de cet "
                        "établissement a été arrêté. Les lots en cours sont gardés ; le reste "
                        "sera relu dans l'export au prochain envoi."
                    )
                except Exception as error:  # one establishment's failure stops only its own
                    one.errors.append(
                        f"Erreur inattendue pendant l'envoi ({type(error).__name__}) : les "
                        "autres établissements continuent ; relancez, et si cela se reproduit "
                        "signalez-le avec le rapport."
                    )
                _keep_learners(learners[index], one, options.dry_run)

            await asyncio.gather(*(lane() for _ in range(lanes)))
            directory.save()
    finally:
        readers.close()
    report.finished_at = dt.datetime.now(dt.UTC)
    return report

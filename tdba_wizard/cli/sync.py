"""The nightly job's command: sync, --preflight, --scheduled-for."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tdba_wizard.cli.common import config_file, secret_store
from tdba_wizard.errors import ExitCode, InputError

CRITICAL = 2  # the exit codes of sync follow its verdict: 0 OK, 1 WARNING, 2 CRITICAL

if TYPE_CHECKING:  # the nightly job's modules are loaded only when it runs
    from tdba_wizard.nightly.job import ProgressCallback
    from tdba_wizard.nightly.reading import Readers


def cmd_sync(args: argparse.Namespace) -> int:
    """Run ``sync``; its exit code is its verdict (0 OK, 1 WARNING, 2 CRITICAL)."""
    from tdba_wizard.errors import TdbaError

    try:
        return _cmd_sync(args)
    except TdbaError as error:
        from tdba_wizard.nightly.job import SyncLockedError
        from tdba_wizard.text import clean

        print(f"✖ {error.title} : {clean(error.message, 2000)}", file=sys.stderr)
        return 1 if isinstance(error, SyncLockedError) else CRITICAL


def _cmd_sync(args: argparse.Namespace) -> int:
    import datetime as dt

    from tdba_wizard.paths import state_dir
    from tdba_wizard.schedule import DailyTime, ScheduleError

    config_path = config_file(args)
    if args.preflight:
        from tdba_wizard.nightly.preflight import preflight  # loads the configuration's models

        lines = preflight(config_path, state_dir())
        for line in lines:
            print(f"{'✔' if line.ok else '✖'} {line.text}")
        return ExitCode.OK if all(line.ok for line in lines) else ExitCode.FAILURE
    if args.scheduled_for:
        try:
            when = DailyTime.from_token(args.scheduled_for)
        except ScheduleError as error:
            raise InputError(f"--scheduled-for : {error.message}") from None
        now = dt.datetime.now(dt.UTC)
        if not when.is_due(now):
            print(
                f"{when.local(now):%Y-%m-%d %H:%M} ({when.timezone}) : ce n'est pas l'heure prévue "
                f"({when.hhmm}) ; rien à faire à ce passage."
            )
            return ExitCode.OK
    return run_sync(config_path, args.dry_run, hold_unmatched=args.hold_unmatched)


def progress_printer(total: int) -> ProgressCallback | None:
    """Return a one-line progress display for a terminal; None when not a terminal (cron).

    Several establishments are sent at once: the line adds up their figures and names the
    ones being sent.
    """
    if not sys.stderr.isatty():
        return None
    from tdba_wizard.text import clean

    last = [0.0]
    figures: dict[str, tuple[int, int]] = {}
    running: dict[str, None] = {}  # in the order they started
    finished: set[str] = set()

    def show(name: str, read: int, sent: int, *, done: bool = False) -> None:
        figures[name] = (read, sent)
        if done:
            finished.add(name)
            running.pop(name, None)
        elif name not in finished:
            running.setdefault(name)
        now = time.monotonic()
        if now - last[0] < 0.2 and not done:
            return  # at most five refreshes a second; each end of an establishment always
        last[0] = now
        lines = sum(r for r, _ in figures.values())
        records = sum(s for _, s in figures.values())
        current = ", ".join(f"« {clean(n, 30)} »" for n in running) or "—"
        print(
            f"\r\033[K{len(finished)}/{total} établissement(s) terminé(s) ; en cours : {current} ; "
            f"{lines} lignes lues, {records} dossiers envoyés…",
            end="",
            file=sys.stderr,
        )

    return show


def run_sync(config_path: Path, dry_run: bool, *, hold_unmatched: bool = False) -> int:
    from tdba_wizard.nightly.reading import Readers

    # The first reading process loads its modules while this one loads its own.
    readers = Readers()
    try:
        return run_with(config_path, dry_run, readers, hold_unmatched=hold_unmatched)
    finally:
        readers.close()


def run_with(
    config_path: Path, dry_run: bool, readers: Readers, *, hold_unmatched: bool = False
) -> int:
    """Run the job; return 0, 1 or 2 on its verdict (OK, WARNING, CRITICAL)."""
    import asyncio
    import contextlib
    import datetime as dt

    from tdba_wizard.config import load_config
    from tdba_wizard.paths import state_dir

    config = load_config(config_path)
    state = state_dir()
    if not dry_run:
        from tdba_wizard.nightly.preflight import state_dir_problem

        problem = state_dir_problem(state)
        if problem is not None:  # checked before any export is read
            print(f"✖ CRITICAL : {problem}", file=sys.stderr)
            return CRITICAL
    from tdba_wizard.nightly.reading import learner_orders

    sources = [
        e.source_path() if e.transmission == "export" else None for e in config.establishments
    ]  # the same as nightly.job.exports_of (not imported yet: the reading starts first)
    readers.begin(
        sources,
        dry_run=dry_run,
        owners=[(e.uai, e.siret) for e in config.establishments],
        learners=learner_orders(config.establishments, state),
    )  # the first export is read from now on

    from tdba_wizard.mailer import MailError, send_report
    from tdba_wizard.nightly.job import SyncOptions, run_sync, sync_lock
    from tdba_wizard.nightly.report import RANK, render_text, save_results

    store = secret_store(config_path)
    started = dt.datetime.now().astimezone()
    print(
        f"{started:%Y-%m-%d %H:%M:%S} Début de l'envoi : {len(config.establishments)} "
        f"établissement(s){' (simulation)' if dry_run else ''}.",
        flush=True,
    )
    options = SyncOptions(
        dry_run=dry_run,
        hold_unmatched=hold_unmatched,
        deadline=config.sync.deadline_minutes * 60.0,
        establishment_deadline=config.sync.establishment_deadline_minutes * 60.0,
    )
    no_lock: list[str] = []
    lock: contextlib.AbstractContextManager[list[str]] = (
        contextlib.nullcontext(no_lock) if dry_run else sync_lock(state, options.deadline)
    )
    with lock as lock_warnings:
        progress = progress_printer(sum(e.transmission == "export" for e in config.establishments))
        try:
            report = asyncio.run(run_sync(config, store, state, options, progress, readers))
            report.warnings[:0] = lock_warnings
        except KeyboardInterrupt:
            print(
                "\nInterrompu : l'envoi s'est arrêté en cours de route. Les dossiers déjà "
                "transmis le restent ; relancez « tdba-wizard sync » pour envoyer les autres "
                "(renvoyer est sans risque).",
                file=sys.stderr,
            )
            return ExitCode.INTERRUPTED
        if progress is not None:
            print(file=sys.stderr)
        if config.schedule.report_to and not dry_run:
            text = render_text(report, config.schedule.timezone)
            try:
                send_report(
                    config.schedule,
                    store,
                    f"[tdba-wizard] Envoi TDBA du {started:%d/%m/%Y} : {report.level}",
                    text,
                )
                mailed = f"Compte rendu envoyé à {config.schedule.report_to}."
            except MailError as error:
                report.warnings.append(f"{error.title} : {error.message}")
                mailed = None
        text = render_text(report, config.schedule.timezone)
        if dry_run:
            print(text, end="", flush=True)
            return RANK[report.level]
        try:
            path = save_results(report, state, text)
        except OSError as error:
            report.errors.append(
                f"Rapport non enregistré dans {state} ({error.strerror or error}) : « tdba-wizard "
                "--check » ne verra pas cet envoi."
            )
            text = render_text(report, config.schedule.timezone)
            path = None
        print(text, end="", flush=True)
        if path is not None:
            print(f"Rapport : {path}")
        if config.schedule.report_to and mailed:
            print(mailed)
    return RANK[report.level]

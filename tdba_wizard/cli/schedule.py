"""Installing, showing and removing the nightly job."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from tdba_wizard.cli.common import config_file, confirm, secret_store
from tdba_wizard.errors import ExitCode, TdbaError

if TYPE_CHECKING:
    from tdba_wizard.config import Config
    from tdba_wizard.secrets import SecretStore


class ScheduleProofError(TdbaError):
    """The scheduled command would fail in cron's environment."""

    title = "Tâche non installée"


def cmd_schedule(args: argparse.Namespace) -> int:
    import datetime as dt

    from tdba_wizard.config import load_config
    from tdba_wizard.operations import apply, plan_schedule
    from tdba_wizard.paths import state_dir
    from tdba_wizard.schedule import (
        Crontab,
        NoCrontabError,
        describe_runs,
        install,
        make_entry,
        parse_time,
        prove,
        remove,
        status,
    )

    config_path = config_file(args)
    config = load_config(config_path)
    crontab = Crontab()
    if args.action == "remove":
        if not confirm("Retirer la tâche de nuit de la crontab ?", args.yes):
            return ExitCode.FAILURE
        if remove(crontab):
            print("✔ Tâche de nuit retirée ; le reste de la crontab est inchangé.")
        else:
            print("Aucune tâche tdba-wizard n'était installée ; rien n'a été modifié.")
        return ExitCode.OK

    at = getattr(args, "at", None) or config.schedule.time
    zone = getattr(args, "timezone", None) or config.schedule.timezone
    when = parse_time(at, zone)
    entry = make_entry(when, config_path, state_dir())
    now = dt.datetime.now(dt.UTC)
    runs = "\n".join(f"  • {line}" for line in describe_runs(when, now))

    if args.action == "show":
        current = status(crontab, entry)
        if not current.installed:
            print("Aucune tâche de nuit installée. « tdba-wizard schedule install » l'installe.")
            return ExitCode.FAILURE
        print("Tâche de nuit installée :")
        for line in current.lines:
            print(f"  {line}")
        if not current.current:
            print(
                "⚠ Elle diffère de ce que la configuration demande (heure, programme ou "
                "chemins) : relancez « tdba-wizard schedule install »."
            )
        print(f"Prochains passages (chaque jour à {when.hhmm}, {when.timezone}) :\n{runs}")
        return ExitCode.OK

    if not crontab.available:
        raise NoCrontabError(
            "Pas de « crontab » sur ce système (macOS sans cron, Windows, conteneur). "
            f"Programmez vous-même, chaque jour à {when.hhmm} ({when.timezone}), la commande : "
            f"{entry.manual_command}"
        )
    print(f"Tâche prévue chaque jour à {when.hhmm} ({when.timezone}). Lignes de crontab :")
    for line in entry.block().decode().splitlines():
        print(f"  {line}")
    print(f"Prochains passages :\n{runs}")
    print("Vérification dans l'environnement de cron (sans session de bureau)…")
    proof = prove(entry)
    for line in proof.output.splitlines():
        print(f"  {line}")
    if not proof.ok:
        raise ScheduleProofError(unreadable_from_cron(config, secret_store(config_path)))
    if args.dry_run:
        print("Simulation (--dry-run) : rien n'est installé.")
        return ExitCode.OK
    if not confirm("Installer cette tâche dans votre crontab ?", args.yes):
        return ExitCode.FAILURE
    store = secret_store(config_path)
    record = plan_schedule(config_path, when.hhmm, when.timezone, args.report_to)
    if record.changes_config:
        apply(record, store)
    try:
        install(crontab, entry)
    except TdbaError:
        if record.changes_config:
            old = config.schedule
            apply(plan_schedule(config_path, old.time, old.timezone, old.report_to), store)
        raise
    print(f"✔ Tâche de nuit installée. Journal : {entry.state_dir / 'sync.log'}")
    return ExitCode.OK


def unreadable_from_cron(config: Config, store: SecretStore) -> str:
    """Return why the job would fail under cron, and the commands that fix it."""
    from tdba_wizard.operations import keyring_only

    in_keyring = [e.uai for e in keyring_only(config, store)]
    text = (
        "La tâche échouerait à l'heure prévue : depuis cron, sans session de bureau, elle ne "
        "peut pas lire sa configuration ou une clé (voir ci-dessus). Rien n'a été installé."
    )
    if in_keyring:
        moves = " ; ".join(f"« tdba-wizard key --uai {uai} --move-to file »" for uai in in_keyring)
        text += (
            " Sur un serveur, le trousseau du bureau n'est pas joignable depuis cron : gardez les "
            "clés dans le fichier protégé (0600, lisible par vous seul), sans les ressaisir : "
            f"{moves}, puis relancez « tdba-wizard schedule install »."
        )
    return text

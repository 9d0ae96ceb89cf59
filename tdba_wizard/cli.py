"""Command-line entry point.

Only the interactive path imports Textual; ``--check``, ``sync`` and the scripting commands stay
light. Data goes to stdout, diagnostics to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tdba_wizard import __version__
from tdba_wizard.errors import ExitCode, InputError, NagiosCode, TdbaError
from tdba_wizard.paths import STATE_ENV, credentials_path, default_config_path
from tdba_wizard.secrets import SecretError, SecretStore, StoreTarget, entry_name

if TYPE_CHECKING:  # the nightly job's modules are loaded only by the commands that run it
    from tdba_wizard.reading import Readers
    from tdba_wizard.sync import ProgressCallback

_FRENCH = {
    "usage: ": "utilisation : ",
    "positional arguments": "arguments",
    "options": "options",
    "show this help message and exit": "afficher cette aide et quitter",
    "show program's version number and exit": "afficher la version et quitter",
    "the following arguments are required: %s": "arguments obligatoires manquants : %s",
    "unrecognized arguments: %s": "arguments inconnus : %s",
    "invalid choice: %(value)r (choose from %(choices)s)": (
        "choix invalide : %(value)r (possibles : %(choices)s)"
    ),
    "expected one argument": "une valeur est attendue",
    "argument %(argument_name)s: %(message)s": "argument %(argument_name)s : %(message)s",
    "not allowed with argument %s": "incompatible avec l'argument %s",
    "invalid %(type)s value: %(value)r": "valeur invalide : %(value)r",
    "ambiguous option: %(option)s could match %(matches)s": (
        "option ambiguë : %(option)s peut désigner %(matches)s"
    ),
    "%(prog)s: error: %(message)s\n": "%(prog)s : erreur : %(message)s\n",
}
_KEY_LIKE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def _translate(text: str) -> str:
    return _FRENCH.get(text, text)


# argparse looks ``_`` up in its module at call time: this makes its messages French.
argparse._ = _translate  # type: ignore[attr-defined]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors never echo something that looks like a key."""

    def error(self, message: str) -> None:  # type: ignore[override]
        message = _KEY_LIKE.sub("<clé masquée>", message)
        self.print_usage(sys.stderr)
        self.exit(ExitCode.USAGE, f"{self.prog} : erreur : {message}\n")


def _key_in_argv(value: str) -> str:
    raise argparse.ArgumentTypeError(
        "la clé ne se passe jamais en argument (elle serait visible dans « ps » et "
        "l'historique) : utilisez --api-key-stdin, --api-key-file ou --api-key-env"
    )


def _add_key_options(command: argparse.ArgumentParser) -> None:
    key_from = command.add_mutually_exclusive_group()
    key_from.add_argument("--api-key-stdin", action="store_true", help="lire la clé sur stdin")
    key_from.add_argument("--api-key-file", type=Path, metavar="FICHIER", help="lire la clé ici")
    key_from.add_argument("--api-key-env", metavar="VARIABLE", help="lire la clé dans VARIABLE")
    key_from.add_argument("--api-key", type=_key_in_argv, help=argparse.SUPPRESS)
    command.add_argument(
        "--secret-store",
        choices=("keyring", "file"),
        default="keyring",
        help="où garder la clé : trousseau du système (défaut) ou fichier protégé 0600, "
        "à choisir seulement si aucun trousseau n'est utilisable (serveur, cron)",
    )
    command.add_argument("--yes", action="store_true", help="ne pas demander de confirmation")
    command.add_argument(
        "--dry-run", action="store_true", help="montrer ce qui serait écrit, sans rien écrire"
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of every command, with French help."""
    parser = _Parser(
        prog="tdba-wizard",
        description=(
            "Raccorde un CFA au Tableau de bord de l'apprentissage (TDBA) et garde le lien "
            "actif. Sans commande : l'assistant interactif."
        ),
        allow_abbrev=False,
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"tdba-wizard {__version__}",
        help="afficher la version et quitter",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="CHEMIN",
        help="fichier de configuration à utiliser (défaut : dossier de configuration "
        "de l'utilisateur, ou $TDBA_WIZARD_CONFIG)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        metavar="CHEMIN",
        help="dossier d'état : résultats, journal, lots non envoyés (défaut : dossier d'état "
        "de l'utilisateur, ou $TDBA_WIZARD_STATE_DIR)",
    )
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="essayer l'assistant contre le bac à sable intégré, dans un profil temporaire",
    )
    health = parser.add_argument_group("contrôle (supervision)")
    health.add_argument(
        "--check",
        action="store_true",
        help="vérifier configuration, clés, API, établissements, derniers envois et tâche de "
        "nuit ; codes de sortie 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
    )
    health.add_argument(
        "--json", dest="check_json", action="store_true", help="avec --check : sortie JSON"
    )
    health.add_argument(
        "--quiet", action="store_true", help="avec --check : n'afficher que les problèmes"
    )
    health.add_argument(
        "--cron-env",
        action="store_true",
        help="avec --check : refaire le contrôle dans l'environnement de cron",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMANDE", title="commandes")

    add = commands.add_parser(
        "add",
        help="ajouter un établissement (clé lue sur l'entrée standard, un fichier ou une variable)",
        description="Ajoute un établissement : configuration + clé d'échange dans le trousseau.",
        allow_abbrev=False,
    )
    add.add_argument("--name", required=True, metavar="NOM", help="nom de l'établissement")
    add.add_argument("--siret", required=True, help="SIRET (14 chiffres)")
    add.add_argument("--uai", required=True, help="UAI (7 chiffres et une lettre)")
    add.add_argument("--sentite", required=True, metavar="ID", help="CFA_SENTITE (id dans l'ERP)")
    add.add_argument("--source", metavar="CHEMIN", help="export lu par la tâche de nuit")
    add.add_argument("--api-url", metavar="URL", help="adresse de l'API TDBA (défaut : production)")
    _add_key_options(add)

    remove = commands.add_parser(
        "remove",
        help="retirer un établissement et sa clé",
        description="Retire un établissement de la configuration et supprime sa clé.",
        allow_abbrev=False,
    )
    remove.add_argument("--uai", required=True, help="UAI de l'établissement")
    remove.add_argument("--siret", help="SIRET, si plusieurs établissements ont cet UAI")
    remove.add_argument("--yes", action="store_true", help="ne pas demander de confirmation")
    remove.add_argument("--dry-run", action="store_true", help="montrer ce qui changerait")

    sandbox = commands.add_parser(
        "sandbox",
        help="servir le bac à sable de l'API TDBA en local (essais, tests d'export)",
        description=(
            "Sert en local une API qui se comporte comme TDBA (mêmes routes, réponses, "
            "messages et limites), avec des établissements et des clés de démonstration. "
            "Ctrl+C pour arrêter."
        ),
        allow_abbrev=False,
    )
    sandbox.add_argument("--port", type=int, default=8123, help="port (défaut : 8123 ; 0 = libre)")
    sandbox.add_argument(
        "--host",
        default="127.0.0.1",
        help="adresse d'écoute (défaut : 127.0.0.1, joignable de ce poste seulement)",
    )
    sandbox.add_argument("--seed", type=Path, metavar="FICHIER", help="autres données de départ")
    sandbox.add_argument(
        "--latency", type=float, default=0.0, metavar="MS", help="délai ajouté à chaque réponse"
    )
    sandbox.add_argument(
        "--rate-limit", action="store_true", help="appliquer les limites de débit (429)"
    )
    sandbox.add_argument(
        "--dump", type=Path, metavar="FICHIER", help="à l'arrêt, écrire les dossiers reçus (JSON)"
    )
    sandbox.add_argument("--verbose", action="store_true", help="journaliser chaque requête")

    key = commands.add_parser(
        "key",
        help="remplacer la clé d'un établissement, ou changer où elle est gardée",
        description="Enregistre une nouvelle clé pour un établissement déjà configuré.",
        allow_abbrev=False,
    )
    key.add_argument("--uai", required=True, help="UAI de l'établissement")
    key.add_argument("--siret", help="SIRET, si plusieurs établissements ont cet UAI")
    _add_key_options(key)

    schedule = commands.add_parser(
        "schedule",
        help="installer, montrer ou retirer la tâche de nuit (crontab)",
        description="Gère la tâche de nuit qui lance « tdba-wizard sync » chaque jour.",
        allow_abbrev=False,
    )
    actions = schedule.add_subparsers(dest="action", metavar="ACTION", title="actions")
    actions.required = True
    install = actions.add_parser(
        "install",
        help="installer (ou remplacer) la tâche",
        description=(
            "Installe la tâche dans la crontab de l'utilisateur, après avoir vérifié que le "
            "programme lit sa configuration et ses clés dans l'environnement de cron."
        ),
        allow_abbrev=False,
    )
    install.add_argument(
        "--at",
        metavar="HEURE",
        help="heure quotidienne : HH:MM, ou expression Quartz (0 0 23 * * ?) ; "
        "défaut : celle de la configuration (23:00)",
    )
    install.add_argument("--timezone", metavar="FUSEAU", help="fuseau horaire (Europe/Paris)")
    install.add_argument("--report-to", metavar="E-MAIL", help="adresse du compte rendu")
    install.add_argument("--yes", action="store_true", help="ne pas demander de confirmation")
    install.add_argument("--dry-run", action="store_true", help="montrer sans rien installer")
    actions.add_parser("show", help="montrer la tâche installée et ses prochains passages")
    remove_job = actions.add_parser("remove", help="retirer la tâche (et seulement elle)")
    remove_job.add_argument("--yes", action="store_true", help="ne pas demander de confirmation")

    sync = commands.add_parser(
        "sync",
        help="tâche de nuit : envoyer les dossiers de chaque établissement",
        description="Envoie les dossiers apprenants de chaque établissement et écrit un rapport.",
        allow_abbrev=False,
    )
    sync.add_argument(
        "--preflight",
        action="store_true",
        help="vérifier seulement que configuration et clés sont lisibles (n'envoie rien)",
    )
    sync.add_argument(
        "--scheduled-for",
        metavar="HH:MM/FUSEAU",
        help="(crontab) ne partir que s'il est cette heure dans ce fuseau",
    )
    sync.add_argument("--dry-run", action="store_true", help="lire et valider, sans rien envoyer")

    listing = commands.add_parser(
        "list",
        help="lister les établissements configurés",
        description="Liste les établissements et indique où se trouve la clé de chacun.",
        allow_abbrev=False,
    )
    listing.add_argument("--json", action="store_true", help="sortie JSON pour les scripts")
    return parser


def _config_path(args: argparse.Namespace) -> Path:
    path: Path | None = args.config
    return path.expanduser() if path is not None else default_config_path()


def _secret_store(config_path: Path) -> SecretStore:
    return SecretStore(credentials_path(config_path))


def _read_key(args: argparse.Namespace) -> str:
    from tdba_wizard.identifiers import parse_api_key

    if args.api_key_stdin:
        raw = sys.stdin.read()
    elif args.api_key_file is not None:
        try:
            raw = args.api_key_file.read_text(encoding="utf-8-sig")
        except OSError as error:
            raise InputError(
                f"Lecture impossible de {args.api_key_file} : {error.strerror}."
            ) from None
    elif args.api_key_env is not None:
        if args.api_key_env not in os.environ:
            raise InputError(f"La variable d'environnement {args.api_key_env} n'est pas définie.")
        raw = os.environ[args.api_key_env]
    elif sys.stdin.isatty():
        import getpass

        raw = getpass.getpass("Clé d'échange TDBA (collez-la ; elle ne s'affiche pas) : ")
    else:
        raise InputError(
            "Clé d'échange manquante : fournissez-la avec --api-key-stdin, --api-key-file "
            "ou --api-key-env."
        )
    return parse_api_key(raw)


def _destination(store: SecretStore, target: StoreTarget, uai: str, siret: str) -> str:
    """Return, in French, where a key would be stored (raises if the keyring is unusable)."""
    if target == "file":
        return f"fichier de clés {store.credentials_file} (0600)"
    return f"{store.keyring_description()} (service tdba-wizard, entrée {entry_name(uai, siret)})"


def _confirm(question: str, assume_yes: bool) -> bool:
    """Ask on the terminal; without one (scripts, cron) there is nobody to ask."""
    if assume_yes or not sys.stdin.isatty():
        return True
    answer = input(f"{question} [o/N] ").strip().lower()
    if answer in ("o", "oui", "y", "yes"):
        return True
    print("Abandon : rien n'a été modifié.", file=sys.stderr)
    return False


def _cmd_add(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from tdba_wizard.config import Establishment, describe_validation_error, normalise_api_url
    from tdba_wizard.establishments import apply_add, plan_add
    from tdba_wizard.identifiers import mask_api_key

    if not re.fullmatch(r"\s*\d+\s*", args.sentite) or int(args.sentite) <= 0:
        raise InputError(
            f"--sentite : « {args.sentite} » n'est pas un identifiant CFA_SENTITE valide "
            "(nombre entier positif, l'id de la fiche du centre dans l'ERP)."
        )
    try:
        establishment = Establishment(
            name=args.name,
            siret=args.siret,
            uai=args.uai,
            sentite=int(args.sentite),
            source=args.source,
        )
    except ValidationError as error:
        raise InputError("--" + " ; --".join(describe_validation_error(error))) from None
    api_url = None
    if args.api_url is not None:
        try:
            api_url = normalise_api_url(args.api_url)
        except ValueError as error:
            raise InputError(f"--api-url : {error}") from None
    config_path = _config_path(args)
    plan = plan_add(config_path, establishment, api_url)
    key = _read_key(args)
    store = _secret_store(config_path)
    target = args.secret_store
    if args.dry_run:
        # The diff first: it is worth seeing even when the keyring turns out to be unusable.
        print("Simulation (--dry-run) : rien n'est écrit.")
        print(plan.diff, end="")
    destination = _destination(store, target, establishment.uai, establishment.siret)
    if args.dry_run:
        print(f"Clé {mask_api_key(key)} : serait enregistrée dans le {destination}.")
        return ExitCode.OK
    if not _confirm(
        f"Ajouter « {establishment.name} » (UAI {establishment.uai}, SIRET "
        f"{establishment.siret}) dans {config_path} et la clé dans le {destination} ?",
        args.yes,
    ):
        return ExitCode.FAILURE
    where = apply_add(plan, store, key, target)
    print(
        f"✔ « {establishment.name} » ajouté (UAI {establishment.uai}, SIRET "
        f"{establishment.siret}, SENTITE {establishment.sentite}) dans {config_path}."
    )
    print(f"✔ Clé {mask_api_key(key)} enregistrée dans le {where}.")
    return ExitCode.OK


def _cmd_remove(args: argparse.Namespace) -> int:
    from tdba_wizard.establishments import apply_remove, plan_remove
    from tdba_wizard.identifiers import parse_siret, parse_uai

    uai = parse_uai(args.uai)
    siret = parse_siret(args.siret) if args.siret else None
    config_path = _config_path(args)
    plan = plan_remove(config_path, uai, siret)
    target = plan.establishment
    if args.dry_run:
        print("Simulation (--dry-run) : rien n'est écrit.")
        print(plan.diff, end="")
        print(f"La clé de l'UAI {target.uai} / SIRET {target.siret} serait supprimée.")
        return ExitCode.OK
    if not _confirm(
        f"Retirer « {target.name} » (UAI {target.uai}, SIRET {target.siret}) et supprimer sa clé ?",
        args.yes,
    ):
        return ExitCode.FAILURE
    store = _secret_store(config_path)
    try:
        removed = apply_remove(plan, store)
    except SecretError as error:
        print(f"✔ « {target.name} » retiré de {config_path}.")
        print(f"⚠ La clé n'a pas pu être supprimée : {error.message}", file=sys.stderr)
        return ExitCode.FAILURE
    print(f"✔ « {target.name} » retiré de {config_path}.")
    if removed:
        print(f"✔ Clé supprimée du {' et du '.join(removed)}.")
    else:
        print("Aucune clé n'était enregistrée pour cet établissement.")
    return ExitCode.OK


def _cmd_list(args: argparse.Namespace) -> int:
    from tdba_wizard.config import load_config

    config_path = _config_path(args)
    config = load_config(config_path)
    store = _secret_store(config_path)
    rows: list[dict[str, object]] = []
    for establishment in config.establishments:
        try:
            found = store.get(establishment.uai, establishment.siret)
            key_state: dict[str, object] = {
                "found": True,
                "backend": found.backend,
                "where": found.where,
            }
        except SecretError as error:
            key_state = {"found": False, "backend": None, "where": error.message}
        rows.append({**establishment.model_dump(mode="json"), "key": key_state})
    if args.json:
        payload = {"config": str(config_path), "api_url": config.api.url, "establishments": rows}
        json.dump(payload, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return ExitCode.OK
    print(f"Configuration : {config_path}")
    print(f"API TDBA : {config.api.url} (ERP : {config.api.erp})")
    if not rows:
        print("Aucun établissement configuré. Ajoutez-en un avec « tdba-wizard add ».")
        return ExitCode.OK
    for row in rows:
        key = row["key"]
        assert isinstance(key, dict)
        state = f"✔ clé : {key['where']}" if key["found"] else f"✖ clé : {key['where']}"
        print(f"\n• {row['name']}")
        print(f"  UAI {row['uai']} · SIRET {row['siret']} · SENTITE {row['sentite']}")
        if row.get("source"):
            print(f"  Export : {row['source']}")
        print(f"  {state}")
    return ExitCode.OK


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from tdba_wizard.sandbox import RateLimit, Sandbox

    try:
        sandbox = Sandbox(seed=args.seed, host=args.host, port=args.port, verbose=args.verbose)
    except OSError as error:
        raise TdbaError(
            f"Impossible d'écouter sur {args.host}:{args.port} ({error.strerror}) : le port est "
            "peut-être déjà pris ; essayez --port 0 pour un port libre.",
            title="Bac à sable",
        ) from None
    except (ValueError, KeyError, TypeError) as error:
        raise TdbaError(f"Fichier de données invalide : {error}", title="Bac à sable") from None
    sandbox.latency = max(0.0, args.latency) / 1000
    if args.rate_limit:
        sandbox.rate_limit = RateLimit()
    print(f"Bac à sable TDBA à l'écoute : {sandbox.url}", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("⚠ Écoute au-delà de ce poste : les clés de démonstration sont publiques.")
    print("Établissements de démonstration (clés fictives, valables ici seulement) :")
    for organisme in sandbox.organismes:
        closed = " — FERMÉ" if organisme.ferme else ""
        print(f"  • {organisme.enseigne}{closed}")
        print(f"    UAI {organisme.uai} · SIRET {organisme.siret} · nature {organisme.nature}")
        print(f"    clé de démonstration : {organisme.demo_key}")
    first = sandbox.organismes[0]
    print(
        f"Essai, dans un autre terminal (la clé est demandée sans s'afficher) :\n"
        f'  tdba-wizard add --name "{first.enseigne}" --uai {first.uai} --siret {first.siret} '
        f"--sentite 1 --api-url {sandbox.url}"
    )
    print("Ctrl+C pour arrêter.", flush=True)
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
        if args.dump is not None:
            sandbox.dump(args.dump)
            print(f"Dossiers reçus écrits dans {args.dump}.")
    print("Bac à sable arrêté.", flush=True)
    return ExitCode.OK


def _cmd_key(args: argparse.Namespace) -> int:
    from tdba_wizard.config import load_config
    from tdba_wizard.establishments import select
    from tdba_wizard.identifiers import mask_api_key, parse_siret, parse_uai

    config_path = _config_path(args)
    target = select(
        load_config(config_path),
        parse_uai(args.uai),
        parse_siret(args.siret) if args.siret else None,
    )
    key = _read_key(args)
    store = _secret_store(config_path)
    where_to = _destination(store, args.secret_store, target.uai, target.siret)
    if args.dry_run:
        print(
            f"Simulation : la clé {mask_api_key(key)} de « {target.name} » irait dans le "
            f"{where_to}."
        )
        return ExitCode.OK
    if not _confirm(
        f"Enregistrer la nouvelle clé de « {target.name} » dans le {where_to} ?", args.yes
    ):
        return ExitCode.FAILURE
    where = store.store(target.uai, target.siret, key, args.secret_store)
    print(f"✔ Clé {mask_api_key(key)} de « {target.name} » enregistrée dans le {where}.")
    other: StoreTarget = "file" if args.secret_store == "keyring" else "keyring"
    try:
        if store.delete_from(target.uai, target.siret, other):
            print("✔ L'ancienne clé a été retirée de l'autre emplacement.")
    except SecretError as error:
        print(
            f"⚠ Ancienne clé non retirée de l'autre emplacement : {error.message}", file=sys.stderr
        )
    return ExitCode.OK


def _cmd_schedule(args: argparse.Namespace) -> int:
    import datetime as dt

    from tdba_wizard.config import load_config, save_config
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

    config_path = _config_path(args)
    config = load_config(config_path)
    crontab = Crontab()
    if args.action == "remove":
        if not _confirm("Retirer la tâche de nuit de la crontab ?", args.yes):
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

    updated = config.with_schedule(when.hhmm, when.timezone, args.report_to)
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
        raise ScheduleProofError(
            "La tâche échouerait à l'heure prévue : depuis cron, elle ne peut pas lire sa "
            "configuration ou une clé (voir ci-dessus). Rien n'a été installé. Solution "
            "habituelle sur un serveur : garder la clé dans le fichier protégé, choisi "
            "explicitement : « tdba-wizard key --uai UAI --secret-store file » (la clé est "
            "demandée), puis recommencer."
        )
    if args.dry_run:
        print("Simulation (--dry-run) : rien n'est installé.")
        return ExitCode.OK
    if not _confirm("Installer cette tâche dans votre crontab ?", args.yes):
        return ExitCode.FAILURE
    if updated != config:
        save_config(config_path, updated)
    try:
        install(crontab, entry)
    except TdbaError:
        if updated != config:
            save_config(config_path, config)
        raise
    print(f"✔ Tâche de nuit installée. Journal : {entry.state_dir / 'sync.log'}")
    return ExitCode.OK


def _cmd_sync(args: argparse.Namespace) -> int:
    import datetime as dt

    from tdba_wizard.paths import state_dir
    from tdba_wizard.schedule import DailyTime, ScheduleError

    config_path = _config_path(args)
    if args.preflight:
        from tdba_wizard.preflight import preflight  # loads the configuration's models

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
    return _run_sync(config_path, args.dry_run)


def _progress_printer() -> ProgressCallback | None:
    """Return a one-line progress display for a terminal; None when not a terminal (cron)."""
    if not sys.stderr.isatty():
        return None
    last = [0.0]

    def show(name: str, read: int, sent: int, *, done: bool = False) -> None:
        now = time.monotonic()
        if now - last[0] < 0.2 and not done:
            return  # at most five refreshes a second; the final figures always
        last[0] = now
        print(
            f"\r« {name} » : {read} lignes lues, {sent} dossiers envoyés…", end="", file=sys.stderr
        )

    return show


def _run_sync(config_path: Path, dry_run: bool) -> int:
    from tdba_wizard.reading import Readers

    # The first reading process loads its modules while this one loads its own.
    readers = Readers()
    try:
        return _run_sync_with(config_path, dry_run, readers)
    finally:
        readers.close()


def _run_sync_with(config_path: Path, dry_run: bool, readers: Readers) -> int:
    import asyncio
    import contextlib
    import datetime as dt

    from tdba_wizard.config import load_config

    config = load_config(config_path)
    sources = [e.source_path() for e in config.establishments]
    readers.begin(sources, dry_run=dry_run)  # the first export is read from now on

    from tdba_wizard.mailer import MailError, send_report
    from tdba_wizard.paths import state_dir
    from tdba_wizard.sync import SyncOptions, render_text, run_sync, save_results, sync_lock

    state = state_dir()
    store = _secret_store(config_path)
    started = dt.datetime.now().astimezone()
    print(
        f"{started:%Y-%m-%d %H:%M:%S} Début de l'envoi : {len(config.establishments)} "
        f"établissement(s){' (simulation)' if dry_run else ''}.",
        flush=True,
    )
    lock = contextlib.nullcontext() if dry_run else sync_lock(state)
    with lock:
        progress = _progress_printer()
        try:
            report = asyncio.run(
                run_sync(config, store, state, SyncOptions(dry_run=dry_run), progress, readers)
            )
        except KeyboardInterrupt:
            print(
                "\nInterrompu : l'envoi s'est arrêté en cours de route. Les dossiers déjà "
                "transmis le restent ; relancez « tdba-wizard sync » pour envoyer les autres "
                "(renvoyer est sans risque).",
                file=sys.stderr,
            )
            return 130
        if progress is not None:
            print(file=sys.stderr)
        text = render_text(report, config.schedule.timezone)
        print(text, end="", flush=True)
        if dry_run:
            return ExitCode.OK if report.ok else ExitCode.FAILURE
        path = save_results(report, state, text)
        print(f"Rapport : {path}")
    if config.schedule.report_to:
        verdict = "OK" if report.ok else "À VÉRIFIER"
        try:
            send_report(
                config.schedule,
                store,
                f"[tdba-wizard] Envoi TDBA du {started:%d/%m/%Y} : {verdict}",
                text,
            )
            print(f"Compte rendu envoyé à {config.schedule.report_to}.")
        except MailError as error:
            print(f"⚠ {error.title} : {error.message}", file=sys.stderr)
    return ExitCode.OK if report.ok else ExitCode.FAILURE


def _cmd_check(args: argparse.Namespace) -> int:
    import asyncio

    from tdba_wizard.check import render_human, run_check
    from tdba_wizard.paths import state_dir
    from tdba_wizard.schedule import program_command

    report = asyncio.run(
        run_check(
            _config_path(args), state_dir(), cron_env=args.cron_env, program=program_command()
        )
    )
    if args.check_json:
        json.dump(report.as_json(), sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        print(render_human(report, quiet=args.quiet), end="")
    return int(report.status)


def _cmd_interactive(args: argparse.Namespace) -> int:
    from tdba_wizard.paths import state_dir

    if args.sandbox:
        return _run_sandbox_wizard()
    from tdba_wizard.services import WizardServices
    from tdba_wizard.tui.app import WizardApp

    app = WizardApp(WizardServices(_config_path(args), state_dir()))
    app.run()
    return int(app.return_code or 0)


def _run_sandbox_wizard() -> int:
    """The whole wizard against an in-process sandbox, in a temporary profile."""
    import tempfile

    from tdba_wizard.sandbox import Sandbox
    from tdba_wizard.services import WizardServices
    from tdba_wizard.tui.app import DemoEstablishment, WizardApp

    with (
        tempfile.TemporaryDirectory(prefix="tdba-wizard-bac-a-sable-") as profile,
        Sandbox() as sandbox,
    ):
        root = Path(profile)
        demos = [
            DemoEstablishment(o.enseigne, o.uai, o.siret, o.demo_key)
            for o in sandbox.organismes
            if not o.ferme
        ]
        services = WizardServices(root / "config.toml", root / "state")
        app = WizardApp(services, sandbox_url=sandbox.url, demos=demos)
        app.run()
    print(
        "Bac à sable terminé : le profil temporaire a été effacé ; rien n'a été écrit "
        "ailleurs (ni trousseau, ni crontab)."
    )
    return int(app.return_code or 0)


COMMANDS: dict[str | None, Callable[[argparse.Namespace], int]] = {
    "add": _cmd_add,
    "remove": _cmd_remove,
    "list": _cmd_list,
    "sandbox": _cmd_sandbox,
    "key": _cmd_key,
    "schedule": _cmd_schedule,
    "sync": _cmd_sync,
    None: _cmd_interactive,
}


class ScheduleProofError(TdbaError):
    """The scheduled command would fail in cron's environment."""

    title = "Tâche non installée"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    checking = "--check" in arguments
    try:
        args = build_parser().parse_args(arguments)
    except SystemExit as exit_:
        # Monitoring reads bad arguments of --check as UNKNOWN, never as WARNING or CRITICAL.
        if checking and exit_.code not in (0, None):
            return NagiosCode.UNKNOWN
        raise
    if args.state_dir is not None:
        # Every part reads the state directory through paths.state_dir().
        os.environ[STATE_ENV] = str(args.state_dir.expanduser().absolute())
    if args.check:
        try:
            return _cmd_check(args)
        except Exception as error:  # an internal failure must read as UNKNOWN, not crash
            print(
                f"UNKNOWN — erreur interne du contrôle ({type(error).__name__}).", file=sys.stderr
            )
            return NagiosCode.UNKNOWN
    try:
        return COMMANDS[args.command](args)
    except TdbaError as error:
        print(f"✖ {error.title} : {error.message}", file=sys.stderr)
        return ExitCode.FAILURE
    except KeyboardInterrupt:
        print("\nInterrompu : rien n'a été modifié.", file=sys.stderr)
        return 130

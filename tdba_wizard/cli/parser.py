"""The command line's parser: every command, its options and its French help."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from tdba_wizard import __version__
from tdba_wizard.errors import ExitCode

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


def key_in_argv(value: str) -> str:
    raise argparse.ArgumentTypeError(
        "la clé ne se passe jamais en argument (elle serait visible dans « ps » et "
        "l'historique) : utilisez --api-key-stdin, --api-key-file ou --api-key-env"
    )


def _add_key_options(command: argparse.ArgumentParser, *, moving: bool = False) -> None:
    key_from = command.add_mutually_exclusive_group()
    key_from.add_argument("--api-key-stdin", action="store_true", help="lire la clé sur stdin")
    key_from.add_argument("--api-key-file", type=Path, metavar="FICHIER", help="lire la clé ici")
    key_from.add_argument("--api-key-env", metavar="VARIABLE", help="lire la clé dans VARIABLE")
    key_from.add_argument("--api-key", type=key_in_argv, help=argparse.SUPPRESS)
    if moving:
        key_from.add_argument(
            "--move-to",
            choices=("keyring", "file"),
            help="déplacer la clé déjà enregistrée (sans la saisir) vers le trousseau ou le "
            "fichier protégé ; l'autre copie est retirée",
        )
    command.add_argument(
        "--secret-store",
        choices=("keyring", "file"),
        default=None,
        help=(
            "où garder la nouvelle clé : trousseau du système ou fichier protégé 0600 ; par "
            "défaut, là où est l'ancienne (le trousseau s'il n'y en a pas). Sur un serveur "
            "sans session de bureau, la tâche de nuit ne lit que le fichier protégé."
            if moving
            else "où garder la clé : trousseau du système (défaut) ou fichier protégé 0600, à "
            "choisir sur un serveur : la tâche de nuit, lancée par cron sans session de "
            "bureau, ne lit pas le trousseau"
        ),
    )
    command.add_argument("--yes", action="store_true", help="ne pas demander de confirmation")
    command.add_argument(
        "--dry-run", action="store_true", help="montrer ce qui serait fait, sans rien écrire"
    )


ERP_IDS = (
    "ymag",
    "gesti",
    "scform",
    "fcamanager",
    "aimaira",
    "cactus",
    "myclic",
    "gescicca",
    "formasup",
    "formasup-hdf",
    "charlemagne",
    "ammon",
    "ofa-link",
    "filiz",
    "hyperplanning",
    "autre",
)  # fmt: skip  (tdba_wizard.erps.IDS; kept here so that --help loads no more than argparse)


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
        "--uai",
        dest="check_uai",
        metavar="UAI",
        help="avec --check : un seul établissement (un service de supervision par établissement)",
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
    add.add_argument(
        "--sentite", metavar="ID", help="CFA_SENTITE, l'id de la fiche du CFA dans Ammon (Ammon)"
    )
    add.add_argument("--source", metavar="CHEMIN", help="export lu par la tâche de nuit")
    add.add_argument(
        "--erp",
        metavar="ID",
        help="l'ERP de l'établissement, tel que TDBA le nomme : "
        + ", ".join(ERP_IDS)
        + " (défaut : [api] erp de la configuration, ammon au départ)",
    )
    add.add_argument(
        "--transmission",
        choices=("export", "erp", "excel"),
        help="qui envoie : « export » tdba-wizard depuis l'export de l'ERP (défaut pour un "
        "ERP à API), « erp » l'ERP lui-même, « excel » import du modèle Excel (défaut pour un "
        "ERP sans API ; pas de clé)",
    )
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
        help="remplacer la clé d'un établissement, ou la déplacer (trousseau ou fichier)",
        description=(
            "Enregistre une nouvelle clé pour un établissement déjà configuré, là où est "
            "l'ancienne (elle la remplace, et toute autre copie est retirée), ou déplace la clé "
            "enregistrée avec --move-to."
        ),
        allow_abbrev=False,
    )
    key.add_argument("--uai", required=True, help="UAI de l'établissement")
    key.add_argument("--siret", help="SIRET, si plusieurs établissements ont cet UAI")
    _add_key_options(key, moving=True)

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
    sync.add_argument(
        "--hold-unmatched",
        action="store_true",
        help="ne pas envoyer les dossiers dont TDBA ne connaît pas l'établissement formateur ou "
        "responsable (ils seraient rejetés à son traitement) ; ils sont comptés au rapport",
    )

    sheet = commands.add_parser(
        "erp-sheet",
        help="ce qu'il faut saisir dans l'ERP, établissement par établissement",
        description="Imprime, dans les mots de l'ERP et dans l'ordre, chaque valeur à saisir "
        "dans l'ERP, les vérifications de la procédure de l'éditeur et le lien de confirmation "
        "(sans la clé). La clé y est masquée ; --copy-key la met dans le presse-papiers.",
        allow_abbrev=False,
    )
    sheet.add_argument("--uai", help="un seul établissement")
    sheet.add_argument("--siret", help="SIRET, si plusieurs établissements ont cet UAI")
    sheet.add_argument(
        "--copy-key",
        action="store_true",
        help="mettre la clé de l'établissement dans le presse-papiers (séquence OSC 52 du "
        "terminal, y compris en SSH), sans l'afficher",
    )

    xlsx = commands.add_parser(
        "xlsx",
        help="préparer le modèle Excel de TDBA depuis l'export (ERP sans API)",
        description="Transforme l'export d'un établissement en fichier(s) au format du modèle "
        "d'import de TDBA (feuille « Modèle », mêmes en-têtes ; 2 000 lignes au plus par "
        "fichier), après vérification avec les règles de TDBA, et dit ce qui a été écarté.",
        allow_abbrev=False,
    )
    xlsx.add_argument("--uai", required=True, help="l'établissement")
    xlsx.add_argument("--siret", help="SIRET, si plusieurs établissements ont cet UAI")
    xlsx.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="FICHIER",
        help="fichier .xlsx à écrire (FICHIER-1.xlsx, -2… au-delà de 2 000 lignes)",
    )
    xlsx.add_argument("--source", type=Path, metavar="CHEMIN",
                      help="un autre export que celui de la configuration")  # fmt: skip

    history = commands.add_parser(
        "history",
        help="journal des envois de nuit (400 jours), par établissement",
        description="Liste chaque envoi par établissement : lus, refusés, envoyés, acceptés, "
        "rejets prévus au traitement de TDBA, doublons prévus (aucune donnée d'apprenant).",
        allow_abbrev=False,
    )
    history.add_argument("--uai", help="un seul établissement")
    history.add_argument("--json", action="store_true", help="sortie JSON pour les scripts")

    listing = commands.add_parser(
        "list",
        help="lister les établissements configurés",
        description="Liste les établissements et indique où se trouve la clé de chacun.",
        allow_abbrev=False,
    )
    listing.add_argument("--json", action="store_true", help="sortie JSON pour les scripts")
    _add_examples(parser)
    return parser


# Each command's --help ends with examples (keys are never arguments: they come from stdin, a
# file or a variable). The README gives the whole walkthrough.
EXAMPLES = {
    "tdba-wizard": """\
exemples :
  tdba-wizard --sandbox                 essayer l'assistant sur le bac à sable intégré
  tdba-wizard                           l'assistant (ou l'écran des établissements)
  tdba-wizard --check                   contrôler le raccordement (supervision : --json)
  tdba-wizard --check --uai 0802004U    un seul établissement
  tdba-wizard sync --dry-run            lire et valider les exports sans rien envoyer
  tdba-wizard COMMANDE --help           l'aide d'une commande, avec ses exemples""",
    "add": """\
exemples :
  tdba-wizard add --name "CFA 1" --uai 0802004U --siret 48401246400091 --sentite 1443191 \\
      --source '/srv/exports/effectifs-{sentite}.csv' --api-key-file /root/cle-tdba.txt
  tdba-wizard add ... --api-key-stdin --secret-store file --yes   (serveur, script)
  tdba-wizard add ... --erp ymag --transmission erp   (Ypareo envoie lui-même)
  tdba-wizard add ... --dry-run                        (montrer le plan, ne rien écrire)""",
    "remove": """\
exemples :
  tdba-wizard remove --uai 0802004U
  tdba-wizard remove --uai 0802004U --siret 48401246400091 --yes""",
    "key": """\
exemples :
  tdba-wizard key --uai 0802004U --api-key-stdin < nouvelle-cle.txt
  tdba-wizard key --uai 0802004U --move-to file     (serveur : la nuit, cron lit ce fichier)""",
    "sandbox": """\
exemples :
  tdba-wizard sandbox                              http://127.0.0.1:8123/api/
  tdba-wizard sandbox --port 8200 --dump recus.json --verbose
  tdba-wizard sandbox --rate-limit --latency 200   (comme TDBA en production)""",
    "schedule": """\
exemples :
  tdba-wizard schedule install                     chaque jour à 23:00, heure de Paris
  tdba-wizard schedule install --at 22:30 --report-to admin@cfa.fr
  tdba-wizard schedule show
  tdba-wizard schedule remove""",
    "schedule install": """\
exemples :
  tdba-wizard schedule install
  tdba-wizard schedule install --at "0 0 23 * * ?"   (l'expression Quartz d'Ammon)
  tdba-wizard schedule install --at 22:30 --timezone Europe/Paris --dry-run""",
    "sync": """\
codes de sortie : 0 OK, 1 WARNING (lignes refusées, dossiers gardés pour le prochain envoi,
  rejets prévus au traitement de TDBA, un autre envoi en cours…), 2 CRITICAL (export
  introuvable, clé refusée, rien de transmis…).
rapport : « reports/ » du dossier d'état (~/.local/state/tdba-wizard/, les 30 derniers, texte
  et JSON), « last-sync.json » pour --check, « history.jsonl » pour « tdba-wizard history ».
export : CSV (« ; » ou « , », UTF-8 ou Windows-1252), XLSX ou JSON, en-têtes = noms des champs
  TDBA ; la liste des colonnes est dans le README, section « L'export ».
exemples :
  tdba-wizard sync --dry-run          lire et valider chaque export, ne rien envoyer
  tdba-wizard sync                    envoyer maintenant (ce que fait la tâche de nuit)
  tdba-wizard sync --preflight        la configuration et les clés se lisent-elles ?""",
    "schedule show": """\
exemple :
  tdba-wizard schedule show     la ligne installée, ses prochains passages (Paris et système)""",
    "schedule remove": """\
exemple :
  tdba-wizard schedule remove --yes     retire ce bloc de la crontab, et lui seul""",
    "erp-sheet": """\
exemples :
  tdba-wizard erp-sheet
  tdba-wizard erp-sheet --uai 0802004U --copy-key""",
    "xlsx": """\
exemples :
  tdba-wizard xlsx --uai 0802004U --out effectifs.xlsx
  tdba-wizard xlsx --uai 0802004U --source examples/export.csv --out /tmp/modele.xlsx""",
    "history": """\
exemples :
  tdba-wizard history
  tdba-wizard history --uai 0802004U --json""",
    "list": """\
exemples :
  tdba-wizard list
  tdba-wizard list --json""",
}


def _add_examples(parser: argparse.ArgumentParser) -> None:
    """End each command's --help with its examples (kept as written: line breaks matter)."""
    name = " ".join(parser.prog.split()[1:]) or parser.prog
    if name in EXAMPLES:
        parser.epilog = EXAMPLES[name]
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _add_examples(child)

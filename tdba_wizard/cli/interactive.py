"""Starting the Textual wizard (the only path that imports Textual)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tdba_wizard.cli.common import config_file
from tdba_wizard.errors import ExitCode

NO_TERMINAL = """\
✖ L'assistant a besoin d'un terminal interactif, et il n'y en a pas ici (tâche planifiée,
  redirection, script). Rien n'a été lancé. Selon ce que vous voulez faire :
  tdba-wizard --check          contrôler le raccordement (supervision : --check --json)
  tdba-wizard sync             envoyer les dossiers maintenant
  tdba-wizard add --help       ajouter un établissement (clé lue sur l'entrée standard)
  tdba-wizard list             voir les établissements et où sont leurs clés
  tdba-wizard --help           toutes les commandes"""


def has_terminal() -> bool:
    """Return True when both the keyboard and the screen are a terminal."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def cmd_interactive(args: argparse.Namespace) -> int:
    from tdba_wizard.paths import state_dir

    if not has_terminal():
        print(NO_TERMINAL, file=sys.stderr)
        return ExitCode.USAGE
    if args.sandbox:
        return _run_sandbox_wizard()
    from tdba_wizard.tui.app import WizardApp
    from tdba_wizard.tui.services import WizardServices

    app = WizardApp(WizardServices(config_file(args), state_dir()))
    app.run()
    return int(app.return_code or 0)


def _run_sandbox_wizard() -> int:
    """The whole wizard against an in-process sandbox, in a temporary profile."""
    import tempfile

    from tdba_wizard.sandbox import Sandbox
    from tdba_wizard.tui.app import DemoEstablishment, WizardApp
    from tdba_wizard.tui.services import WizardServices

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

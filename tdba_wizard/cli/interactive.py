"""Starting the Textual wizard (the only path that imports Textual)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tdba_wizard.cli.common import config_file


def cmd_interactive(args: argparse.Namespace) -> int:
    from tdba_wizard.paths import state_dir

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

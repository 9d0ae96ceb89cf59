"""Regenerate the SVG screenshots of each wizard step from the real app.

Run: .venv/bin/python screenshots/generate.py
The app runs headless at 80×24 against an in-process sandbox, in a throwaway profile, with no
crontab; the demo key appears masked only.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from tdba_wizard.sandbox import Sandbox
from tdba_wizard.tui.app import WizardApp
from tdba_wizard.tui.tour import services, walk

HERE = Path(__file__).parent
STEPS = [
    ("01-accueil", "WelcomeStep"),
    ("02-cle", "KeyStep"),
    ("03-etablissement", "EstablishmentStep"),
    ("04-parametres-erp", "ErpStep"),
    ("05-test-connexion", "ConnectionStep"),
    ("06-planification", "ScheduleStep"),
    ("07-verification", "ReviewStep"),
    ("08-recapitulatif", "DoneScreen"),
]


async def shoot(sandbox: Sandbox, name: str, stop: str) -> None:
    organisme = sandbox.organismes[0]
    with tempfile.TemporaryDirectory(prefix="captures-") as profile:
        app = WizardApp(services(Path(profile)))
        async with app.run_test(size=(80, 24)) as pilot:
            await walk(pilot, sandbox.url, organisme.demo_key, organisme.uai, organisme.siret, stop)
            app.save_screenshot(filename=f"{name}.svg", path=str(HERE))
    text = (HERE / f"{name}.svg").read_text("utf-8")
    assert organisme.demo_key not in text, "a screenshot must never show a key"
    print(f"{name}.svg")


async def main() -> None:
    from tdba_wizard import schedule

    # The installed program's path shows in the summary; it differs between machines.
    schedule.program_command = lambda: ["/opt/tdba/bin/tdba-wizard"]
    with Sandbox(port=18766) as sandbox:
        for name, stop in STEPS:
            await shoot(sandbox, name, stop)


if __name__ == "__main__":
    asyncio.run(main())

"""A scripted tour of the wizard (Pilot), shared by the tests and ``screenshots/generate.py``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.widgets import Input

from tdba_wizard.probe import CronKeyring, keyring_from_cron
from tdba_wizard.schedule import Crontab
from tdba_wizard.tui.app import WizardApp
from tdba_wizard.tui.services import WizardServices


def services(
    root: Path, cron_keyring: Callable[[], CronKeyring] = keyring_from_cron
) -> WizardServices:
    """Services on a profile under ``root``, with no crontab (nothing outside the profile)."""
    crontab = Crontab()
    crontab.program = None
    return WizardServices(
        root / "profile" / "config.toml", root / "state", crontab, cron_keyring=cron_keyring
    )


async def settle(pilot: Any) -> None:
    """Wait for the workers and the screen; stop the cursor blinking (stable pictures)."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False  # stable snapshots


def set_value(app: WizardApp, selector: str, value: str) -> None:
    """Set an input's value as if typed."""
    app.screen.query_one(selector, Input).value = value


async def next_step(pilot: Any) -> None:
    """Press Ctrl+N and wait."""
    await pilot.press("ctrl+n")
    await settle(pilot)


async def walk(pilot: Any, url: str, key: str, uai: str, siret: str, stop: str) -> None:
    """Go through the onboarding up to the step named ``stop`` (a screen class name)."""
    app = pilot.app
    await settle(pilot)
    if stop == "WelcomeStep":
        return
    await pilot.click("#env-custom")
    set_value(app, "#custom-url", url)
    await next_step(pilot)
    if stop == "ErpChoiceStep":
        return
    await next_step(pilot)  # Ammon, sent by tdba-wizard from the export
    if stop == "KeyStep":
        set_value(app, "#key", key)
        await settle(pilot)
        return
    set_value(app, "#key", key)
    await next_step(pilot)
    set_value(app, "#siret", siret)
    set_value(app, "#uai", uai)
    await pilot.click("#lookup")
    await settle(pilot)
    if stop == "EstablishmentStep":
        return
    await next_step(pilot)
    if stop == "ErpStep":
        set_value(app, "#sentite", "1443191")
        await settle(pilot)
        return
    set_value(app, "#sentite", "1443191")
    await next_step(pilot)
    if stop == "ConnectionStep":
        return
    await next_step(pilot)
    if stop == "ScheduleStep":
        return
    await next_step(pilot)
    if stop == "ReviewStep":
        return
    if app.screen.query("#choice") and app.screen.query_one("#choice").display:
        await pilot.click("#store-file")  # the server path: the job cannot reach the keyring
        await settle(pilot)
    await next_step(pilot)
    await settle(pilot)

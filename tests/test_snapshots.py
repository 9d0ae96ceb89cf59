"""One SVG snapshot per wizard step and per error state, at 80×24, demo key always masked."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tdba_wizard.config import Config, Establishment, save_config
from tdba_wizard.sandbox import Sandbox
from tdba_wizard.tui.app import WizardApp
from tdba_wizard.tui.tour import services, settle, walk

from .conftest import DEMO_KEY
from .network import network_sandbox, save_network

PORT = 18765  # fixed so that the URL shown on screen is the same on every run
PROFILE = Path("/tmp/tdba-wizard-snapshots")  # fixed for the same reason
SIZE = (80, 24)


@pytest.fixture(scope="module")
def fixed_sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=PORT) as server:
        yield server


@pytest.fixture(autouse=True)
def fixed_program(monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed program's path is shown on screen; it differs between machines."""
    from tdba_wizard import schedule

    monkeypatch.setattr(schedule, "program_command", lambda: ["/opt/tdba/bin/tdba-wizard"])


@pytest.fixture
def app() -> Iterator[WizardApp]:
    shutil.rmtree(PROFILE, ignore_errors=True)
    yield WizardApp(services(PROFILE))
    shutil.rmtree(PROFILE, ignore_errors=True)


def until(sandbox: Sandbox, stop: str, key: str | None = None, uai: str | None = None) -> Any:
    organisme = sandbox.organismes[0]

    async def run_before(pilot: Any) -> None:
        await walk(
            pilot,
            sandbox.url,
            key or organisme.demo_key,
            uai or organisme.uai,
            organisme.siret,
            stop,
        )

    return run_before


def assert_masked(snapshot_dir: Path, sandbox: Sandbox) -> None:
    for svg in snapshot_dir.glob("*.svg"):
        text = svg.read_text("utf-8")
        assert sandbox.organismes[0].demo_key not in text
        assert DEMO_KEY not in text


def test_welcome(snap_compare: Any, app: WizardApp, fixed_sandbox: Sandbox) -> None:
    """Accueil: what is needed, the environment choice, the custom URL field, the footer."""
    assert snap_compare(app, terminal_size=SIZE, run_before=until(fixed_sandbox, "WelcomeStep"))


def test_erp_choice(snap_compare: Any, app: WizardApp, fixed_sandbox: Sandbox) -> None:
    """Votre ERP: TDBA's list, who sends, and what it means in the ERP's own words."""
    assert snap_compare(app, terminal_size=SIZE, run_before=until(fixed_sandbox, "ErpChoiceStep"))


def test_erp_sheet(snap_compare: Any, app: WizardApp, fixed_sandbox: Sandbox) -> None:
    """The summary's « Fiche pour l'ERP »: Ammon's screens, in order, the key masked."""

    async def run_before(pilot: Any) -> None:
        await until(fixed_sandbox, "DoneScreen")(pilot)
        await pilot.click("#sheet")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_key_typed_is_hidden(snap_compare: Any, app: WizardApp, fixed_sandbox: Sandbox) -> None:
    """Clé d'échange: where to find it; the pasted demo key shows as dots only."""
    assert snap_compare(app, terminal_size=SIZE, run_before=until(fixed_sandbox, "KeyStep"))


def test_key_invalid(snap_compare: Any, app: WizardApp, fixed_sandbox: Sandbox) -> None:
    """Clé d'échange with a value that is not a UUID v4: the French message under the field."""
    assert snap_compare(
        app, terminal_size=SIZE, run_before=until(fixed_sandbox, "KeyStep", key="pas-une-cle")
    )


def test_establishment_found(snap_compare: Any, app: WizardApp, fixed_sandbox: Sandbox) -> None:
    """Établissement: SIRET and UAI, and what TDBA knows of it, ready for "Je confirme"."""
    assert snap_compare(
        app, terminal_size=SIZE, run_before=until(fixed_sandbox, "EstablishmentStep")
    )


def test_establishment_bad_uai_letter(
    snap_compare: Any, app: WizardApp, fixed_sandbox: Sandbox
) -> None:
    """Établissement with a wrong UAI check letter: the letter it should have."""
    assert snap_compare(
        app,
        terminal_size=SIZE,
        run_before=until(fixed_sandbox, "EstablishmentStep", uai="0802004A"),
    )


def test_erp(snap_compare: Any, app: WizardApp, fixed_sandbox: Sandbox) -> None:
    """Paramètres ERP: name from TDBA, CFA_SENTITE, export path."""
    assert snap_compare(app, terminal_size=SIZE, run_before=until(fixed_sandbox, "ErpStep"))


def test_connection_ok(snap_compare: Any, app: WizardApp, fixed_sandbox: Sandbox) -> None:
    """Test de connexion passed: the environment named, the key accepted."""
    assert snap_compare(app, terminal_size=SIZE, run_before=until(fixed_sandbox, "ConnectionStep"))


def test_connection_refused_key(snap_compare: Any, app: WizardApp, fixed_sandbox: Sandbox) -> None:
    """Test de connexion with a refused key: the explanation and "Corriger la clé"."""
    assert snap_compare(
        app, terminal_size=SIZE, run_before=until(fixed_sandbox, "ConnectionStep", key=DEMO_KEY)
    )


def test_schedule(snap_compare: Any, app: WizardApp, fixed_sandbox: Sandbox) -> None:
    """Planification on a machine without crontab: said plainly."""
    assert snap_compare(app, terminal_size=SIZE, run_before=until(fixed_sandbox, "ScheduleStep"))


def test_review(snap_compare: Any, app: WizardApp, fixed_sandbox: Sandbox) -> None:
    """Vérification: everything that will be written, the key masked (8 + 4 characters)."""
    assert snap_compare(app, terminal_size=SIZE, run_before=until(fixed_sandbox, "ReviewStep"))


def test_done(snap_compare: Any, app: WizardApp, fixed_sandbox: Sandbox) -> None:
    """Récapitulatif: what was saved where, and tdba-wizard --check."""
    assert snap_compare(app, terminal_size=SIZE, run_before=until(fixed_sandbox, "DoneScreen"))


def test_quit_confirmation(snap_compare: Any, app: WizardApp, fixed_sandbox: Sandbox) -> None:
    """Ctrl+Q in the middle of the flow asks before losing what was typed."""

    async def run_before(pilot: Any) -> None:
        await until(fixed_sandbox, "ErpStep")(pilot)
        await pilot.press("ctrl+q")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_home(snap_compare: Any, app: WizardApp, fixed_sandbox: Sandbox) -> None:
    """The home screen of a re-run: establishments, key state, last sync, actions."""
    organisme = fixed_sandbox.organismes[0]
    establishment = Establishment(
        name=organisme.enseigne, uai=organisme.uai, siret=organisme.siret, sentite=1443191
    )
    save_config(
        app.services.config_path,
        Config.model_validate(
            {"api": {"url": fixed_sandbox.url}, "establishments": [establishment.model_dump()]}
        ),
    )
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)


def test_home_of_a_network_filtered(snap_compare: Any, app: WizardApp, tmp_path: Path) -> None:
    """A network of 200 on the home screen at 80×24, filtered on « lyon »: the columns that
    fit (the names whole), the states, the count, the row under the cursor in full."""
    with network_sandbox(tmp_path, 200, port=PORT + 1) as sandbox:
        save_network(app.services.config_path, sandbox)

        async def run_before(pilot: Any) -> None:
            await settle(pilot)
            await pilot.press("slash", *"lyon", "down", "down")
            await settle(pilot)

        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_review_light_theme_large_terminal(
    snap_compare: Any, app: WizardApp, fixed_sandbox: Sandbox
) -> None:
    """Vérification in the light theme on a 120×40 terminal: same content, readable colours."""

    async def run_before(pilot: Any) -> None:
        pilot.app.theme = "textual-light"
        await until(fixed_sandbox, "ReviewStep")(pilot)

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_no_key_in_any_snapshot(fixed_sandbox: Sandbox) -> None:
    """Runs last in this module: no stored snapshot contains a key."""
    assert_masked(Path(__file__).parent / "__snapshots__" / "test_snapshots", fixed_sandbox)

"""The wizard driven with Pilot over real HTTP against the sandbox; asserts what was written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.widgets import DataTable, Input, RadioSet, Static

from tdba_wizard.config import Config, Establishment, load_config, save_config
from tdba_wizard.paths import credentials_path
from tdba_wizard.probe import CronKeyring
from tdba_wizard.sandbox import Organisme, Sandbox
from tdba_wizard.schedule import Crontab
from tdba_wizard.secrets import SERVICE, SecretStore
from tdba_wizard.tui.app import WizardApp
from tdba_wizard.tui.screens.connection import ConnectionStep
from tdba_wizard.tui.screens.erpchoice import ErpChoiceStep
from tdba_wizard.tui.screens.establishment import EstablishmentStep
from tdba_wizard.tui.screens.home import HomeScreen
from tdba_wizard.tui.screens.key import KeyStep
from tdba_wizard.tui.screens.review import DoneScreen
from tdba_wizard.tui.services import KeyTest, WizardServices
from tdba_wizard.tui.tour import next_step, set_value, settle
from tdba_wizard.tui.tour import services as shared_services

from .conftest import DEMO_KEY, MemoryKeyring
from .network import network_sandbox, save_network
from .servers import free_port

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """Textual runs on asyncio (anyio's pytest plugin, which httpx brings, runs the tests)."""
    return "asyncio"


def cron_reaches_keyring() -> CronKeyring:
    """A desktop where the nightly job reaches the keyring (e.g. a keyringrc backend)."""
    return CronKeyring(True, "trousseau de test")


def services(tmp_path: Path) -> WizardServices:
    return shared_services(tmp_path, cron_reaches_keyring)


def text_of(app: WizardApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def open_flow(pilot: Any, key: str) -> None:
    """Start a flow from the home screen (« a », « e ») and keep the ERP as it is."""
    await pilot.press(key)
    await settle(pilot)
    assert isinstance(pilot.app.screen, ErpChoiceStep)
    await next_step(pilot)


async def to_erp_step(pilot: Any, organisme: Organisme) -> None:
    """From the key step of an « a » flow: the organisme's key, SIRET and UAI looked up and
    confirmed, up to the ERP settings."""
    app = pilot.app
    set_value(app, "#key", organisme.demo_key)
    await next_step(pilot)
    set_value(app, "#siret", organisme.siret)
    set_value(app, "#uai", organisme.uai)
    await pilot.click("#lookup")
    await settle(pilot)
    await next_step(pilot)


async def goto_connection(pilot: Any, url: str, key: str, uai: str, siret: str) -> None:
    """Fill Accueil (custom URL), the ERP (Ammon, sent from the export), the key, the
    establishment and the ERP settings."""
    app = pilot.app
    await pilot.click("#env-custom")
    set_value(app, "#custom-url", url)
    await next_step(pilot)
    assert isinstance(app.screen, ErpChoiceStep)
    await next_step(pilot)
    assert isinstance(app.screen, KeyStep)
    set_value(app, "#key", f'  "{key}"\n')
    await next_step(pilot)
    assert isinstance(app.screen, EstablishmentStep)
    set_value(app, "#siret", siret)
    set_value(app, "#uai", uai)
    await pilot.click("#lookup")
    await settle(pilot)
    await next_step(pilot)
    if isinstance(app.screen, EstablishmentStep):
        return  # the look-up did not confirm the establishment
    set_value(app, "#sentite", "1443191")
    await next_step(pilot)


async def test_full_onboarding(
    sandbox: Sandbox, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    organisme = sandbox.organismes[0]
    app = WizardApp(services(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await goto_connection(
            pilot, sandbox.url, organisme.demo_key, organisme.uai, organisme.siret
        )
        assert isinstance(app.screen, ConnectionStep)
        assert "La clé d'échange est acceptée" in text_of(app, "#result")
        assert "sandbox" in text_of(app, "#result")
        await next_step(pilot)  # Planification
        await next_step(pilot)  # Vérification
        review = text_of(app, "#plan")
        assert "7a72e3b6-••••" in review and organisme.demo_key not in review
        assert review == app.services.review(app.draft).text
        assert not app.services.config_path.exists()  # nothing written before "Enregistrer"
        await next_step(pilot)
        await settle(pilot)
        assert isinstance(app.screen, DoneScreen)
        # No crontab on this test machine: not "C'est fait", and the command to schedule.
        title = str(app.screen.query_one(".step-title", Static).render())
        assert "C'est fait" not in title and "pas terminé" in title
        assert "Pas de crontab sur ce système" in str(
            app.screen.query_one(".missing").query_one(Static).render()
        )
    config = load_config(app.services.config_path)
    assert [(e.uai, e.sentite) for e in config.establishments] == [(organisme.uai, 1443191)]
    assert config.api.url == sandbox.url
    assert memory_keyring.entries == {
        (SERVICE, f"{organisme.uai}-{organisme.siret}"): organisme.demo_key
    }
    assert organisme.demo_key not in app.services.config_path.read_text("utf-8")


async def test_quitting_midway_writes_nothing(
    sandbox: Sandbox, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    organisme = sandbox.organismes[0]
    app = WizardApp(services(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await goto_connection(
            pilot, sandbox.url, organisme.demo_key, organisme.uai, organisme.siret
        )
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.click("#yes")
        await pilot.pause()
    assert not app.services.config_path.exists()
    assert memory_keyring.entries == {}


async def test_refused_key_leads_back_to_the_key_step(sandbox: Sandbox, tmp_path: Path) -> None:
    organisme = sandbox.organismes[0]
    app = WizardApp(services(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await goto_connection(pilot, sandbox.url, DEMO_KEY, organisme.uai, organisme.siret)
        assert "Clé refusée" in text_of(app, "#result")
        assert "Générez-en une nouvelle" in text_of(app, "#result")
        await next_step(pilot)
        assert isinstance(app.screen, ConnectionStep)  # cannot go on
        await pilot.click("#fix-key")
        await pilot.pause()
        assert isinstance(app.screen, KeyStep)
    assert not app.services.config_path.exists()


async def test_unreachable_api_leads_back_to_the_address(sandbox: Sandbox, tmp_path: Path) -> None:
    organisme = sandbox.organismes[0]
    app = WizardApp(services(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await goto_connection(
            pilot, sandbox.url, organisme.demo_key, organisme.uai, organisme.siret
        )
        app.draft.api_url = f"http://127.0.0.1:{free_port()}/api/"
        await pilot.click("#retry")
        await settle(pilot)
        assert "TDBA injoignable" in text_of(app, "#result")
        assert "refuse la connexion" in text_of(app, "#result")
        await pilot.click("#fix-url")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "WelcomeStep"


async def test_unknown_establishment_is_explained(sandbox: Sandbox, tmp_path: Path) -> None:
    organisme = sandbox.organismes[0]
    app = WizardApp(services(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await goto_connection(pilot, sandbox.url, organisme.demo_key, "0755805C", organisme.siret)
        assert isinstance(app.screen, EstablishmentStep)
        # « Je confirme » looked the couple up again: it is still unknown, the step stays.
        assert "non confirmé" in text_of(app, "#lookup-result")


async def test_only_siret_offers_the_uais(sandbox: Sandbox, tmp_path: Path) -> None:
    app = WizardApp(services(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.click("#env-custom")
        set_value(app, "#custom-url", sandbox.url)
        await next_step(pilot)
        await next_step(pilot)  # the ERP: as it is
        set_value(app, "#key", sandbox.organismes[1].demo_key)
        await next_step(pilot)
        set_value(app, "#siret", "13002526500013")
        await pilot.click("#lookup")
        await settle(pilot)
        assert "2 UAI pour ce SIRET" in text_of(app, "#lookup-result")
        await pilot.press("enter")  # the first UAI offered
        await settle(pilot)
        assert app.draft.organisme is not None and app.draft.organisme.siret == "13002526500013"


def seed_config(app_services: WizardServices, sandbox: Sandbox, key: str) -> Establishment:
    organisme = sandbox.organismes[0]
    establishment = Establishment(name="CFA 1", uai=organisme.uai, siret=organisme.siret, sentite=7)
    save_config(
        app_services.config_path,
        Config.model_validate(
            {"api": {"url": sandbox.url}, "establishments": [establishment.model_dump()]}
        ),
    )
    SecretStore(credentials_path(app_services.config_path)).store(
        organisme.uai, organisme.siret, key
    )
    return establishment


async def test_rerun_adds_a_second_establishment(
    sandbox: Sandbox, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    app_services = services(tmp_path)
    seed_config(app_services, sandbox, sandbox.organismes[0].demo_key)
    second = sandbox.organismes[1]
    app = WizardApp(app_services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        await open_flow(pilot, "a")
        assert isinstance(app.screen, KeyStep)
        await to_erp_step(pilot, second)
        set_value(app, "#sentite", "42")
        await next_step(pilot)
        assert "acceptée" in text_of(app, "#result")
        await next_step(pilot)
        await next_step(pilot)
        await settle(pilot)
        assert isinstance(app.screen, DoneScreen)
    config = load_config(app_services.config_path)
    assert [e.uai for e in config.establishments] == [sandbox.organismes[0].uai, second.uai]
    assert len(memory_keyring.entries) == 2


async def test_edit_the_key(
    sandbox: Sandbox, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    app_services = services(tmp_path)
    establishment = seed_config(app_services, sandbox, DEMO_KEY)  # a key TDBA refuses
    good = sandbox.organismes[0].demo_key
    app = WizardApp(app_services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_flow(pilot, "e")
        set_value(app, "#key", good)
        await next_step(pilot)  # ERP step, prefilled
        await next_step(pilot)  # connection test with the new key
        assert "acceptée" in text_of(app, "#result")
        await next_step(pilot)
        await next_step(pilot)
        await settle(pilot)
        assert isinstance(app.screen, DoneScreen)
    stored = memory_keyring.entries[(SERVICE, f"{establishment.uai}-{establishment.siret}")]
    assert stored == good
    assert load_config(app_services.config_path).establishments == [establishment]


async def test_remove_with_confirmation(
    sandbox: Sandbox, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    app_services = services(tmp_path)
    seed_config(app_services, sandbox, sandbox.organismes[0].demo_key)
    app = WizardApp(app_services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await pilot.pause()
        await pilot.click("#no")
        await pilot.pause()
        assert len(load_config(app_services.config_path).establishments) == 1
        await pilot.press("d")
        await pilot.pause()
        await pilot.click("#yes")
        await settle(pilot)
        assert "retiré" in text_of(app, "#status")
    assert load_config(app_services.config_path).establishments == []
    assert memory_keyring.entries == {}


async def test_home_tests_all(sandbox: Sandbox, tmp_path: Path) -> None:
    app_services = services(tmp_path)
    seed_config(app_services, sandbox, sandbox.organismes[0].demo_key)
    app = WizardApp(app_services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        assert text_of(app, "#status") == "✔ 1 clé(s) acceptée(s) par TDBA."


def rows_of(app: WizardApp) -> list[list[str]]:
    table = app.screen.query_one(DataTable)
    return [[str(cell) for cell in table.get_row_at(row)] for row in range(table.row_count)]


async def test_a_network_of_200_on_the_home_screen(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    app_services = services(tmp_path)
    with network_sandbox(tmp_path, 200) as sandbox:
        establishments = save_network(app_services.config_path, sandbox)
        app = WizardApp(app_services)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, HomeScreen)
            # Name, UAI, state and last run at 80 columns; the keys read in one go.
            assert [c.key for c in screen.columns] == ["name", "uai", "state", "last"]
            assert [row[0].strip(" ›") for row in rows_of(app)] == [e.name for e in establishments]
            states = {i: screen.states[i] for i in range(200)}
            assert states[0] == "✔ clé" and states[5] == "✖ sans clé"
            assert states[7] == "— Excel" and screen.last_runs[7] == "import Excel"
            assert screen.last_runs[3] == "par l'ERP" and screen.last_runs[0] == "jamais"
            assert text_of(app, "#status").startswith("✖ Clés à revoir : 6 « ✖ sans clé »")
            # « / », then a part of a name, accents and case aside.
            await pilot.press("slash", *"saint")
            assert screen.focused is screen.query_one("#filter", Input)
            set_value(app, "#filter", "saint-etienne n°1")  # as if typed on
            await pilot.pause()
            assert [row[0].strip(" ›") for row in rows_of(app)] == [
                f"CFA Saint-Étienne n°{i}" for i in (12, 100, 108, 116, 124, 132, 140, 148,
                                                    156, 164, 172, 180, 188, 196)
            ]  # fmt: skip
            assert screen.query_one("#filter", Input).border_subtitle.startswith("14 sur 200")
            # ↓ goes back to the table with the filter kept; « e » edits the row chosen.
            await pilot.press("down", "down")
            assert "CFA Saint-Étienne n°100 · UAI" in text_of(app, "#detail")
            await pilot.press("e")
            await settle(pilot)
            assert isinstance(app.screen, ErpChoiceStep)
            assert app.draft.editing == establishments[100]
            await pilot.press("escape")
            await settle(pilot)
            assert app.screen is screen
            # Typed in the table, a character that is not an action starts the filter.
            await pilot.press("escape", "0", "5", "9", "0", "1", "9", "9")
            await pilot.pause()
            assert [row[1] for row in rows_of(app)] == [establishments[199].uai]
            await pilot.press("escape")
            await pilot.pause()
            assert len(rows_of(app)) == 200 and screen.focused is screen.query_one(DataTable)
            # Typed all at once (fast, or pasted): « e » of « /evry » is the filter's, not « edit ».
            for key in ("slash", "e", "v", "r", "y"):
                app.post_message(events.Key(key, "/" if key == "slash" else key))
            await pilot.pause()
            await pilot.pause()
            assert app.screen is screen
            assert screen.query_one("#filter", Input).value == "evry"
            assert len(rows_of(app)) == 25
            await pilot.press("escape")
            await pilot.pause()
            # Every key tested, a few at a time; each cell changes as its answer comes.
            await pilot.press("t")
            await settle(pilot)
            tested = [screen.states[i] for i in range(200)]
            assert tested.count("✔ acceptée") == 190 and tested.count("— Excel") == 4
            assert tested.count("✖ sans clé") == 6
            assert text_of(app, "#status").startswith(
                "✖ 6 en échec · 190 acceptée(s) (4 en import Excel, sans clé)"
            )
            assert rows_of(app)[0][2] == "✔ acceptée"
            checks = [r for r in sandbox.requests() if r[1].endswith("/dossiers-apprenants/test")]
            assert len(checks) == 190
        narrow = WizardApp(app_services)
        async with narrow.run_test(size=(60, 20)) as pilot:
            await settle(pilot)
            assert isinstance(narrow.screen, HomeScreen)
            assert [c.key for c in narrow.screen.columns] == ["name", "uai", "state", "last"]
            assert narrow.screen.columns[0].width == 17
            assert rows_of(narrow)[1] == ["  CFA Paris 11e …", "0590001F", "✔ clé", "jamais"]
            await pilot.press("down")  # the detail line says it in full
            assert text_of(narrow, "#detail").startswith("› CFA Paris 11e n°1 · UAI 0590001F")


async def test_names_with_brackets_are_shown_as_they_are(sandbox: Sandbox, tmp_path: Path) -> None:
    app_services = services(tmp_path)
    organisme = sandbox.organismes[0]
    name = "CFA [/] [b]Site 2[/b] [red"
    establishment = Establishment(name=name, uai=organisme.uai, siret=organisme.siret, sentite=3)
    data = {"api": {"url": sandbox.url}, "establishments": [establishment.model_dump()]}
    save_config(app_services.config_path, Config.model_validate(data))
    app = WizardApp(app_services)
    async with app.run_test(size=(100, 24)) as pilot:
        await settle(pilot)
        assert rows_of(app)[0][0] == f"› {name}"
        assert text_of(app, "#detail").startswith(f"› {name} · UAI")
        assert f"« {name} » : Aucune clé" in text_of(app, "#status").replace("\n", " ")


async def test_keys_are_never_said_refused_when_tdba_does_not_answer(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    app_services = services(tmp_path)
    with network_sandbox(tmp_path, 12) as sandbox:
        establishments = save_network(app_services.config_path, sandbox)
        app_services.store.store(establishments[0].uai, establishments[0].siret, DEMO_KEY)
        config = load_config(app_services.config_path)
        seen: list[KeyTest] = []
        results = await app_services.test_keys(config, seen.append)
        assert sorted(seen, key=lambda r: r.index) == results
        assert [(r.label, r.ok) for r in results[:8]] == [
            ("✖ refusée", False), ("✔ acceptée", True), ("✔ acceptée", True),
            ("✔ acceptée", True), ("✔ acceptée", True), ("✖ sans clé", False),
            ("✔ acceptée", True), ("— Excel", None),
        ]  # fmt: skip
    # The sandbox is gone: nothing answers at its address.
    results = await app_services.test_keys(config, lambda result: None)
    assert [r.label for r in results] == [
        "? non vérif.", "? non vérif.", "? non vérif.", "? non vérif.", "? non vérif.",
        "✖ sans clé", "? non vérif.", "— Excel", "? non vérif.", "? non vérif.", "? non vérif.",
        "? non vérif.",
    ]  # fmt: skip
    assert all(r.ok is None for r in results if r.label == "? non vérif.")
    assert (results[0].problem or "").startswith("127.0.0.1 refuse la connexion.")


@pytest.fixture(autouse=True)
def no_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    import webbrowser

    monkeypatch.setattr(webbrowser, "open", lambda url: False)


async def test_no_keyring_offers_the_file_explicitly(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keyring
    from keyring.backends import fail

    keyring.set_keyring(fail.Keyring())
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    organisme = sandbox.organismes[0]
    app = WizardApp(services(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await goto_connection(
            pilot, sandbox.url, organisme.demo_key, organisme.uai, organisme.siret
        )
        await next_step(pilot)
        await next_step(pilot)
        assert "aucun bus de session D-Bus" in text_of(app, "#choice-text")
        await next_step(pilot)  # refused: no silent fallback
        assert "Choisissez où garder la clé" in text_of(app, "#step-error")
        assert not app.services.config_path.exists()
        assert app.screen.query_one("#store-keyring").disabled
        await pilot.click("#store-file")
        await settle(pilot)
        assert "fichier de clés" in text_of(app, "#plan")
        assert text_of(app, "#step-error") == ""
        await next_step(pilot)
        await settle(pilot)
        assert isinstance(app.screen, DoneScreen)
    credentials = credentials_path(app.services.config_path)
    assert oct(credentials.stat().st_mode & 0o777) == "0o600"
    assert SecretStore(credentials).get(organisme.uai, organisme.siret).backend == "file"


@pytest.mark.crontab
async def test_schedule_from_home_installs_the_job(
    sandbox: Sandbox, tmp_path: Path, user_crontab: Crontab
) -> None:
    from tdba_wizard.schedule import find_block, installed_lines

    app_services = WizardServices(tmp_path / "profile" / "config.toml", tmp_path / "state")
    seed_config(app_services, sandbox, sandbox.organismes[0].demo_key)
    # The key in the explicit file, so that the proof from cron's environment can pass.
    organisme = sandbox.organismes[0]
    SecretStore(credentials_path(app_services.config_path)).store(
        organisme.uai, organisme.siret, organisme.demo_key, "file"
    )
    app = WizardApp(app_services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        assert "Ligne qui sera ajoutée à votre crontab" in text_of(app, "#preview")
        assert "--scheduled-for 23:00/Europe/Paris" in text_of(app, "#preview")
        set_value(app, "#time", "22:30")
        await next_step(pilot)
        review = text_of(app, "#plan")
        assert "envoi de nuit : 23:00 (Europe/Paris) → 22:30 (Europe/Paris)" in review
        assert "None" not in review and "raccordé" not in review and "UAI" not in review
        await next_step(pilot)  # Enregistrer
        await settle(pilot)
        assert isinstance(app.screen, DoneScreen)
        title = str(app.screen.query_one(".step-title", Static).render())
        assert title == "Envoi de nuit installé"
        done = text_of(app, "#done")
        assert "raccordé" not in done and "Connexion testée" not in done
    content = user_crontab.read()
    assert find_block(content) is not None
    assert "--scheduled-for 22:30/Europe/Paris" in installed_lines(content)[0]
    assert load_config(app_services.config_path).schedule.time == "22:30"


@pytest.mark.crontab
async def test_server_path_explicit_choice_then_job_installed_and_proven(
    sandbox: Sandbox, tmp_path: Path, user_crontab: Crontab, memory_keyring: MemoryKeyring
) -> None:
    """A server: a keyring in the session, none from cron (asked for real, from cron's
    environment). The review says so and asks; « Enregistrer » waits for the choice; the key
    goes to the protected file; the job is tried from cron's environment, then installed."""
    from tdba_wizard.schedule import find_block
    from tdba_wizard.tui.tour import walk

    organisme = sandbox.organismes[0]
    app_services = WizardServices(tmp_path / "profile" / "config.toml", tmp_path / "state")
    app = WizardApp(app_services)
    async with app.run_test(size=(80, 24)) as pilot:
        await walk(pilot, sandbox.url, organisme.demo_key, organisme.uai, organisme.siret,
                   "ReviewStep")  # fmt: skip
        assert app.screen.query_one("#choice").display
        assert "L'envoi de nuit ne pourra pas lire le trousseau" in text_of(app, "#choice-text")
        assert "aucun bus de session D-Bus" in text_of(app, "#choice-text")
        await next_step(pilot)  # « Enregistrer » without a choice: refused
        assert "Choisissez où garder la clé" in text_of(app, "#step-error")
        assert not app_services.config_path.exists()
        await pilot.click("#store-file")
        await settle(pilot)
        assert "rangée dans le fichier de clés" in text_of(app, "#plan")
        assert "après un essai dans l'environnement de cron" in text_of(app, "#plan")
        await next_step(pilot)
        await settle(pilot)
        assert isinstance(app.screen, DoneScreen)
        title = str(app.screen.query_one(".step-title", Static).render())
        assert title.startswith("C'est fait"), title
        done = text_of(app, "#done")
        assert "Envoi de nuit installé dans votre crontab" in done
        assert "essayé dans l'environnement de cron" in done
        assert not app.screen.query(".missing")
    assert find_block(user_crontab.read()) is not None
    assert memory_keyring.entries == {}
    store = SecretStore(credentials_path(app_services.config_path))
    assert store.copies(organisme.uai, organisme.siret).places == ["file"]


@pytest.mark.crontab
async def test_keyring_kept_against_advice_says_what_is_missing_and_fixes_it(
    sandbox: Sandbox, tmp_path: Path, user_crontab: Crontab, memory_keyring: MemoryKeyring
) -> None:
    """Choosing the keyring on a server: the job cannot be proven; no « C'est fait »; the
    summary's button moves the key to the file and installs the job."""
    from tdba_wizard.schedule import find_block
    from tdba_wizard.tui.tour import walk

    organisme = sandbox.organismes[0]
    app_services = WizardServices(tmp_path / "profile" / "config.toml", tmp_path / "state")
    app = WizardApp(app_services)
    async with app.run_test(size=(80, 24)) as pilot:
        await walk(pilot, sandbox.url, organisme.demo_key, organisme.uai, organisme.siret,
                   "ReviewStep")  # fmt: skip
        await pilot.click("#store-keyring")
        await settle(pilot)
        await next_step(pilot)
        await settle(pilot)
        assert isinstance(app.screen, DoneScreen)
        title = str(app.screen.query_one(".step-title", Static).render())
        assert "C'est fait" not in title
        missing = app.screen.query(".missing")
        assert len(missing) == 1
        assert "Envoi de nuit non installé" in str(missing.first().query_one(Static).render())
        assert find_block(user_crontab.read()) is None
        await pilot.click(".fix")
        await settle(pilot)
        await settle(pilot)
        title = str(app.screen.query_one(".step-title", Static).render())
        assert title.startswith("C'est fait"), title
        assert "Envoi de nuit installé" in text_of(app, "#done")
    assert find_block(user_crontab.read()) is not None
    assert memory_keyring.entries == {}


async def test_key_edit_leaves_one_key_read_the_same_from_cron(
    sandbox: Sandbox, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    """The key had been kept in the protected file so that cron could read it. Editing it with
    « e » replaces it there: no second key in the keyring; cron reads the new one."""
    import hashlib
    import subprocess
    import sys

    from tdba_wizard.schedule import cron_environment

    app_services = services(tmp_path)
    establishment = seed_config(app_services, sandbox, DEMO_KEY)
    memory_keyring.entries.clear()
    store = SecretStore(credentials_path(app_services.config_path))
    store.store(establishment.uai, establishment.siret, DEMO_KEY, "file")
    good = sandbox.organismes[0].demo_key
    app = WizardApp(app_services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_flow(pilot, "e")
        assert "Modifier « CFA 1 »" in str(app.screen.query_one(".step-title", Static).render())
        set_value(app, "#key", good)
        await next_step(pilot)
        await next_step(pilot)
        assert "acceptée" in text_of(app, "#result")
        await next_step(pilot)
        assert "remplace l'ancienne dans le fichier de clés" in text_of(app, "#plan")
        await next_step(pilot)
        await settle(pilot)
        assert isinstance(app.screen, DoneScreen)
    assert memory_keyring.entries == {}
    copies = store.copies(establishment.uai, establishment.siret)
    assert (copies.keyring, copies.file) == (None, good)
    script = (
        "import hashlib, sys\nfrom pathlib import Path\nfrom tdba_wizard.secrets import "
        "SecretStore\nkey = SecretStore(Path(sys.argv[1])).get(sys.argv[2], sys.argv[3]).value\n"
        "print(hashlib.sha256(key.encode()).hexdigest())"
    )
    from_cron = subprocess.run(
        [sys.executable, "-c", script, str(credentials_path(app_services.config_path)),
         establishment.uai, establishment.siret],
        env=cron_environment(), capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert from_cron.stdout.strip() == hashlib.sha256(good.encode()).hexdigest()


async def test_dry_run_and_review_show_the_same_plan(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Adding a second establishment: the wizard's review shows, word for word, what
    « tdba-wizard add … --dry-run » prints for the same establishment."""
    import io
    import sys

    from tdba_wizard.cli import main

    app_services = services(tmp_path)
    seed_config(app_services, sandbox, sandbox.organismes[0].demo_key)
    second = sandbox.organismes[1]
    monkeypatch.setattr(sys, "stdin", io.StringIO(second.demo_key))
    code = main(["--config", str(app_services.config_path), "add", "--name", second.enseigne,
                 "--uai", second.uai, "--siret", second.siret, "--sentite", "42",
                 "--api-key-stdin", "--dry-run"])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    header, _, dry_run = printed.partition("\n")
    assert header.startswith("Simulation (--dry-run)")
    app = WizardApp(app_services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_flow(pilot, "a")
        await to_erp_step(pilot, second)
        set_value(app, "#name", second.enseigne)
        set_value(app, "#sentite", "42")
        await next_step(pilot)
        await next_step(pilot)
        review = text_of(app, "#plan")
    assert review.startswith(dry_run.rstrip("\n"))
    assert review[len(dry_run.rstrip("\n")) :].lstrip("\n").startswith("Envoi de nuit")


async def test_time_zone_is_kept_by_a_wizard_save(
    sandbox: Sandbox, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    app_services = services(tmp_path)
    seed_config(app_services, sandbox, sandbox.organismes[0].demo_key)
    config = load_config(app_services.config_path)
    save_config(app_services.config_path, config.with_schedule("21:00", "America/Cayenne", None))
    second = sandbox.organismes[1]
    app = WizardApp(app_services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_flow(pilot, "a")
        await to_erp_step(pilot, second)
        set_value(app, "#sentite", "42")
        await next_step(pilot)
        await next_step(pilot)
        await next_step(pilot)
        await settle(pilot)
        assert isinstance(app.screen, DoneScreen)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        assert "Heure (America/Cayenne)" in str(app.screen.query_one("#time-field Label").render())
    after = load_config(app_services.config_path).schedule
    assert (after.time, after.timezone) == ("21:00", "America/Cayenne")


async def test_a_hung_keyring_does_not_freeze_the_wizard(sandbox: Sandbox, tmp_path: Path) -> None:
    """Every keyring call runs in a worker: the home screen answers while the keyring hangs."""
    import threading

    import keyring
    from keyring.backend import KeyringBackend

    released = threading.Event()

    class HungKeyring(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def get_password(self, service: str, username: str) -> str | None:
            released.wait(20)
            return None

        def set_password(self, service: str, username: str, password: str) -> None:
            released.wait(20)

        def delete_password(self, service: str, username: str) -> None:
            released.wait(20)

    app_services = services(tmp_path)
    save_config(
        app_services.config_path,
        Config.model_validate({"api": {"url": sandbox.url}, "establishments": [
            Establishment(name="CFA 1", uai=sandbox.organismes[0].uai,
                          siret=sandbox.organismes[0].siret, sentite=7).model_dump()]}),
    )  # fmt: skip
    keyring.set_keyring(HungKeyring())
    app = WizardApp(app_services)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(20):
                await pilot.pause(0.05)
                if isinstance(app.screen, HomeScreen):
                    break
            assert isinstance(app.screen, HomeScreen)
            assert "Lecture des clés" in text_of(app, "#status")
            await pilot.press("a")  # the keyring still hangs; the wizard answers
            await pilot.pause(0.2)
            assert isinstance(app.screen, ErpChoiceStep)
            assert not released.is_set()
            released.set()
    finally:
        released.set()


async def test_back_keeps_typed_values_and_fixed_errors_go_away(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    from tdba_wizard.tui.screens.erp import ErpStep
    from tdba_wizard.tui.tour import walk

    organisme = sandbox.organismes[0]
    app = WizardApp(services(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await walk(pilot, sandbox.url, organisme.demo_key, organisme.uai, organisme.siret,
                   "EstablishmentStep")  # fmt: skip
        await next_step(pilot)
        assert isinstance(app.screen, ErpStep)
        assert app.focused is not None and app.focused.id == "name"  # the first control
        set_value(app, "#name", "CFA Nord")
        await next_step(pilot)  # CFA_SENTITE missing
        assert "CFA_SENTITE" in text_of(app, "#step-error")
        set_value(app, "#sentite", "77")
        await pilot.pause()
        assert text_of(app, "#step-error") == ""  # fixed: the line goes away
        set_value(app, "#source", "/srv/export-{sentite}.csv")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, EstablishmentStep)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, KeyStep)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ErpChoiceStep)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen.query_one("#custom-url", Input).value == sandbox.url
        await next_step(pilot)
        await next_step(pilot)  # the ERP, kept
        await next_step(pilot)  # the key is kept in the draft
        await next_step(pilot)  # the establishment is still confirmed
        assert isinstance(app.screen, ErpStep)
        assert app.screen.query_one("#name", Input).value == "CFA Nord"
        assert app.screen.query_one("#sentite", Input).value == "77"
        assert app.screen.query_one("#source", Input).value == "/srv/export-{sentite}.csv"


async def test_custom_address_is_checked_at_the_first_step(tmp_path: Path) -> None:
    from tdba_wizard.tui.screens.welcome import WelcomeStep

    app = WizardApp(services(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.focused, RadioSet)  # arrows and Enter work at once
        await pilot.click("#env-custom")
        set_value(app, "#custom-url", f"http://127.0.0.1:{free_port()}/api/")
        await next_step(pilot)
        assert isinstance(app.screen, WelcomeStep)
        error = text_of(app, "#step-error")
        assert "ne répond pas comme l'API TDBA" in error and "se termine par /api/" in error


async def test_second_export_prefilled_from_the_first_template(
    sandbox: Sandbox, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    from tdba_wizard.tui.screens.erp import ErpStep

    app_services = services(tmp_path)
    seed_config(app_services, sandbox, sandbox.organismes[0].demo_key)
    config = load_config(app_services.config_path)
    first = config.establishments[0].model_copy(update={"source": "/srv/ammon/eff-{sentite}.csv"})
    save_config(app_services.config_path, config.model_copy(update={"establishments": [first]}))
    second = sandbox.organismes[1]
    app = WizardApp(app_services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_flow(pilot, "a")
        await to_erp_step(pilot, second)
        assert isinstance(app.screen, ErpStep)
        assert app.screen.query_one("#source", Input).value == "/srv/ammon/eff-{sentite}.csv"


async def test_confirmation_link_copied_not_shown(sandbox: Sandbox, tmp_path: Path) -> None:
    organisme = sandbox.organismes[0]
    app = WizardApp(services(tmp_path))
    copied: list[str] = []
    app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await goto_connection(
            pilot, sandbox.url, organisme.demo_key, organisme.uai, organisme.siret
        )
        await pilot.click("#copy-link")
        await pilot.pause()
        assert organisme.demo_key not in text_of(app, "#result")
    assert len(copied) == 1 and f"api_key={organisme.demo_key}" in copied[0]
    assert f"uai={organisme.uai}" in copied[0]
    import httpx  # the sandbox serves the page: the step can be rehearsed end to end

    page = httpx.get(copied[0], timeout=5)
    assert page.status_code == 200 and "Accrochage confirmé" in page.text
    assert sandbox.confirmations() == {organisme.id: "ammon"}


async def test_switch_state_and_quit_key_are_in_the_text(tmp_path: Path, sandbox: Sandbox) -> None:
    from textual.widgets import Footer, Switch

    from tdba_wizard.tui.tour import walk

    organisme = sandbox.organismes[0]
    app = WizardApp(services(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await walk(pilot, sandbox.url, organisme.demo_key, organisme.uai, organisme.siret,
                   "ScheduleStep")  # fmt: skip
        assert str(app.screen.query_one("#install-label", Static).render()).endswith(": oui")
        app.screen.query_one("#install", Switch).value = False
        await pilot.pause()
        assert str(app.screen.query_one("#install-label", Static).render()).endswith(": non")
        footer = app.screen.query_one(Footer)
        keys = [str(key.render()) for key in footer.query("FooterKey")]
        assert any("Quitter" in key for key in keys[:1]), keys


async def test_an_erp_that_sends_itself_gets_its_sheet_not_a_nightly_job(
    sandbox: Sandbox, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    from textual.widgets import Select

    from tdba_wizard.tui.screens.review import SheetModal
    from tdba_wizard.tui.screens.schedule import ScheduleStep

    organisme = sandbox.organismes[0]
    app = WizardApp(services(tmp_path))
    copied: list[str] = []
    app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.click("#env-custom")
        set_value(app, "#custom-url", sandbox.url)
        await next_step(pilot)
        assert isinstance(app.screen, ErpChoiceStep)
        app.screen.query_one("#erp", Select).value = "ymag"
        await pilot.click("#by-erp")
        await settle(pilot)
        guidance = text_of(app, "#guidance")
        assert "Site de formation" in guidance and "Clé d'API" in guidance
        await next_step(pilot)
        assert isinstance(app.screen, KeyStep)
        assert "Ypareo" in str(app.screen.query_one(".step-body Static").render())
        set_value(app, "#key", organisme.demo_key)
        await next_step(pilot)
        set_value(app, "#siret", organisme.siret)
        set_value(app, "#uai", organisme.uai)
        await pilot.click("#lookup")
        await settle(pilot)
        await next_step(pilot)
        assert not app.screen.query("#sentite") and not app.screen.query("#source")
        await next_step(pilot)
        assert "acceptée" in text_of(app, "#result")
        await next_step(pilot)
        assert not isinstance(app.screen, ScheduleStep)  # the ERP sends: no nightly job
        assert "aucun pour cet établissement (c'est Ypareo qui transmet)" in text_of(app, "#plan")
        await next_step(pilot)
        await settle(pilot)
        assert isinstance(app.screen, DoneScreen)
        title = str(app.screen.query_one(".step-title", Static).render())
        assert title == "Côté TDBA, c'est fait — reste le côté Ypareo"
        await pilot.click("#sheet")
        await settle(pilot)
        assert isinstance(app.screen, SheetModal)
        sheet = app.screen.text
        assert "Centre de formation > Sites de formation" in sheet and "erp=ymag" in sheet
        assert organisme.demo_key not in sheet
        await pilot.click("#copy-key")
        await pilot.pause()
    assert copied == [organisme.demo_key]
    [saved] = load_config(app.services.config_path).establishments
    assert (saved.erp, saved.transmission, saved.sentite, saved.source) == (
        "ymag",
        "erp",
        None,
        None,
    )


async def test_an_erp_without_api_takes_the_excel_path_without_a_key(
    sandbox: Sandbox, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    from textual.widgets import Select

    organisme = sandbox.organismes[0]
    app = WizardApp(services(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.click("#env-custom")
        set_value(app, "#custom-url", sandbox.url)
        await next_step(pilot)
        app.screen.query_one("#erp", Select).value = "formasup"
        await settle(pilot)
        assert app.screen.query_one("#by-erp").disabled
        await pilot.click("#by-excel")
        await settle(pilot)
        assert "Pas de clé d'échange" in text_of(app, "#guidance")
        await next_step(pilot)
        assert isinstance(app.screen, EstablishmentStep)  # no key step
        set_value(app, "#siret", organisme.siret)
        set_value(app, "#uai", organisme.uai)
        await pilot.click("#lookup")
        await settle(pilot)
        await next_step(pilot)
        await next_step(pilot)  # no connection test (no key), no nightly job
        review = text_of(app, "#plan")
        assert "Clé d'échange" not in review and "import Excel" in review
        await next_step(pilot)
        await settle(pilot)
        assert isinstance(app.screen, DoneScreen)
        done = text_of(app, "#done")
        assert "tdba-wizard xlsx --uai" in done and "Connexion testée" not in done
    [saved] = load_config(app.services.config_path).establishments
    assert (saved.erp, saved.transmission) == ("formasup", "excel")
    assert memory_keyring.entries == {}

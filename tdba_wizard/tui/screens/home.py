"""The home screen when a config exists: establishments, their state, and the actions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from tdba_wizard.config import Config
from tdba_wizard.errors import TdbaError
from tdba_wizard.tui.screens.modals import ConfirmModal

if TYPE_CHECKING:
    from tdba_wizard.tui.app import WizardApp


class HomeScreen(Screen[None]):
    """Établissements raccordés."""

    BINDINGS = [
        Binding("a", "add", "Ajouter"),
        Binding("e", "edit", "Modifier"),
        Binding("d", "remove", "Retirer"),
        Binding("t", "test_all", "Tout tester"),
        Binding("p", "schedule", "Planifier"),
        Binding("f1", "help", "Aide"),
    ]

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config

    def compose(self) -> ComposeResult:
        yield Static("tdba-wizard — établissements raccordés à TDBA", classes="step-title")
        yield Static(f"API : {self.config.api.url}", classes="hint")
        table: DataTable[str] = DataTable(id="establishments", cursor_type="row")
        yield table
        yield Static("", id="status", classes="card")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Nom", "UAI", "SIRET", "SENTITE", "Clé", "Dernier envoi", "Test")
        self.refresh_rows()
        table.focus()

    def refresh_rows(self) -> None:
        from tdba_wizard.tui.app import WizardApp

        assert isinstance(self.app, WizardApp)
        table = self.query_one(DataTable)
        table.clear()
        for row in self.app.services.home_rows(self.config):
            e = row.establishment
            key = "✔ trouvée" if row.key_location else "✖ absente"
            table.add_row(e.name[:28], e.uai, e.siret, str(e.sentite), key,
                          row.last_sync or "jamais", "—")  # fmt: skip
        if not self.config.establishments:
            self.query_one("#status", Static).update(
                "Aucun établissement : « a » pour en ajouter un."
            )

    def _selected(self) -> int | None:
        table = self.query_one(DataTable)
        if not self.config.establishments or table.cursor_row < 0:
            return None
        return min(table.cursor_row, len(self.config.establishments) - 1)

    def action_add(self) -> None:
        self.app_wizard.start_flow("add")

    def action_edit(self) -> None:
        index = self._selected()
        if index is not None:
            self.app_wizard.start_flow("edit", self.config.establishments[index])

    def action_schedule(self) -> None:
        self.app_wizard.start_flow("schedule")

    def action_help(self) -> None:
        from tdba_wizard.tui.screens.modals import HelpModal

        self.app.push_screen(HelpModal("Accueil", (
            "a : ajouter un établissement · e : modifier (clé, SENTITE, nom, export) · d : "
            "retirer (et supprimer sa clé) · t : tester la connexion de tous · p : planifier "
            "l'envoi de nuit · Ctrl+Q : quitter."
        )))  # fmt: skip

    @property
    def app_wizard(self) -> WizardApp:
        from tdba_wizard.tui.app import WizardApp

        assert isinstance(self.app, WizardApp)
        return self.app

    def action_remove(self) -> None:
        index = self._selected()
        if index is None:
            return
        establishment = self.config.establishments[index]

        def confirmed(answer: bool | None) -> None:
            if answer:
                self.remove_establishment(index)

        self.app.push_screen(
            ConfirmModal(
                f"Retirer « {establishment.name} » (UAI {establishment.uai}) et supprimer sa "
                "clé d'échange ?",
                yes="Retirer",
                no="Annuler",
            ),
            confirmed,
        )

    @work(thread=True, exclusive=True)
    def remove_establishment(self, index: int) -> None:
        establishment = self.config.establishments[index]
        try:
            removed = self.app_wizard.services.remove(establishment)
        except TdbaError as error:
            self.app.call_from_thread(
                self.query_one("#status", Static).update, f"✖ {error.message}"
            )
            return
        message = f"✔ « {establishment.name} » retiré" + (
            f" ; clé supprimée du {' et du '.join(removed)}." if removed else "."
        )
        self.app.call_from_thread(self._reload, message)

    def _reload(self, message: str) -> None:
        config = self.app_wizard.services.load()
        self.config = config if config is not None else Config()
        self.refresh_rows()
        self.query_one("#status", Static).update(message)

    def action_test_all(self) -> None:
        self.query_one("#status", Static).update("Test de tous les établissements…")
        self.test_all()

    @work(exclusive=True)
    async def test_all(self) -> None:
        services = self.app_wizard.services
        table = self.query_one(DataTable)
        problems = 0
        for index, e in enumerate(self.config.establishments):
            try:
                key = services.store.get(e.uai, e.siret).value
            except TdbaError:
                table.update_cell_at(Coordinate(index, 6), "✖ clé")
                problems += 1
                continue
            outcome = await services.test_connection(self.config.api.url, key)
            table.update_cell_at(Coordinate(index, 6), "✔ ok" if outcome.ok else "✖ échec")
            problems += not outcome.ok
        self.query_one("#status", Static).update(
            "✔ Tous les établissements répondent." if not problems
            else f"✖ {problems} établissement(s) en échec : « tdba-wizard --check » détaille."
        )  # fmt: skip

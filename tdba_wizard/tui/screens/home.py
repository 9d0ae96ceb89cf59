"""The home screen when a config exists: establishments, their state, and the actions."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker

from tdba_wizard.config import Config
from tdba_wizard.tui.screens.base import QUIT, WorkerFailures
from tdba_wizard.tui.screens.modals import ConfirmModal, HelpModal
from tdba_wizard.tui.services import HomeRow

if TYPE_CHECKING:
    from tdba_wizard.tui.app import WizardApp

NAME_COLUMN, STATE_COLUMN, LAST_COLUMN = 0, 4, 5
NAME_WIDTH = 16


class HomeScreen(WorkerFailures, Screen[None]):
    """Établissements raccordés."""

    BINDINGS = [
        QUIT,
        Binding("a", "add", "Ajouter"),
        Binding("e", "edit", "Modifier"),
        Binding("d", "remove", "Retirer"),
        Binding("t", "test_all", "Tester"),
        Binding("p", "schedule", "Planifier"),
        Binding("f1", "help", "Aide"),
    ]

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config

    @property
    def wizard(self) -> WizardApp:
        from tdba_wizard.tui.app import WizardApp

        assert isinstance(self.app, WizardApp)
        return self.app

    def compose(self) -> ComposeResult:
        yield Static("tdba-wizard — établissements raccordés à TDBA", classes="step-title")
        yield Static(f"API : {self.config.api.url}", classes="hint")
        table: DataTable[str] = DataTable(id="establishments", cursor_type="row")
        yield table
        yield Static("Lecture des clés…", id="status", classes="card")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        # Six columns that fit in 80: the state column says the key's, then the test's.
        table.add_column("Nom", width=NAME_WIDTH)
        for label in ("UAI", "SIRET", "SENTITE"):
            table.add_column(label)
        table.add_column("État", width=10)
        table.add_column("Dernier envoi", width=13)
        self._fill(self.config)
        table.focus()
        self.load_rows()

    def _fill(self, config: Config) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for index, e in enumerate(config.establishments):
            label = self._row_label(index, index == 0)
            table.add_row(label, e.uai, e.siret, str(e.sentite), "…", "…")

    def _row_label(self, index: int, under_cursor: bool) -> str:
        name = self.config.establishments[index].name
        if len(name) > NAME_WIDTH - 2:
            name = name[: NAME_WIDTH - 3] + "…"
        return ("› " if under_cursor else "  ") + name

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The row under the cursor is marked by a character, not only by its colour."""
        table = self.query_one(DataTable)
        for row in range(min(table.row_count, len(self.config.establishments))):
            table.update_cell_at(Coordinate(row, NAME_COLUMN),
                                 self._row_label(row, row == event.cursor_row))  # fmt: skip

    @work(thread=True, exclusive=True, group="rows", exit_on_error=False)
    def load_rows(self, message: str = "") -> None:
        rows = self.wizard.services.home_rows(self.config)
        self.app.call_from_thread(self._show_rows, rows, message)

    def _show_rows(self, rows: list[HomeRow], message: str = "") -> None:
        table = self.query_one(DataTable)
        problems = []
        for index, row in enumerate(rows):
            key = "✔ trouvée" if row.key_location else "✖ absente"
            if row.copies_differ:
                key = "✖ 2 clés"
                problems.append(f"« {row.establishment.name} » : deux clés différentes, l'une "
                                "dans le trousseau, l'autre dans le fichier protégé ; « e » pour "
                                "enregistrer la bonne.")  # fmt: skip
            elif row.key_problem:
                problems.append(f"« {row.establishment.name} » : {row.key_problem}")
            table.update_cell_at(Coordinate(index, STATE_COLUMN), key)
            table.update_cell_at(Coordinate(index, LAST_COLUMN), row.last_sync or "jamais")
        lines = [message] if message else []
        if not self.config.establishments:
            lines.append("Aucun établissement : « a » pour en ajouter un.")
        elif problems:
            lines += [f"✖ {p}" for p in problems[:3]]
        elif not message:
            lines.append("a : ajouter · e : modifier · d : retirer · t : tester · p : envoi "
                         "de nuit · F1 : aide")  # fmt: skip
        self.query_one("#status", Static).update("\n".join(lines))

    def worker_failed(self, worker: Worker[object]) -> None:
        self.query_one("#status", Static).update("✖ L'opération n'a pas abouti (voir le message).")

    def _selected(self) -> int | None:
        table = self.query_one(DataTable)
        if not self.config.establishments or table.cursor_row < 0:
            return None
        return min(table.cursor_row, len(self.config.establishments) - 1)

    def action_add(self) -> None:
        self.wizard.start_flow("add")

    def action_edit(self) -> None:
        index = self._selected()
        if index is not None:
            self.wizard.start_flow("edit", self.config.establishments[index])

    def action_schedule(self) -> None:
        self.wizard.start_flow("schedule")

    def action_help(self) -> None:
        self.app.push_screen(HelpModal("Accueil", (
            "a : ajouter un établissement · e : modifier (clé, SENTITE, nom, export) · d : "
            "retirer (et supprimer sa clé) · t : tester la connexion de tous · p : l'envoi "
            "de nuit (heure, compte rendu, installation) · Ctrl+Q : quitter."
        )))  # fmt: skip

    def action_remove(self) -> None:
        index = self._selected()
        if index is None:
            return
        establishment = self.config.establishments[index]

        def confirmed(answer: bool | None) -> None:
            if answer:
                self.query_one("#status", Static).update(f"Retrait de « {establishment.name} »…")
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

    @work(thread=True, exclusive=True, group="write", exit_on_error=False)
    def remove_establishment(self, index: int) -> None:
        establishment = self.config.establishments[index]
        done = self.wizard.services.remove(establishment)
        config = self.wizard.services.load() or Config()
        message = "\n".join(
            [f"✔ « {establishment.name} » retiré.", *(f"✔ {line}" for line in done)]
        )
        self.app.call_from_thread(self._reload, config, message)

    def _reload(self, config: Config, message: str) -> None:
        self.wizard.config = config
        self.config = config
        self._fill(config)
        self.load_rows(message)

    def action_test_all(self) -> None:
        self.query_one("#status", Static).update("Test de tous les établissements…")
        self.test_all()

    @work(exclusive=True, group="test", exit_on_error=False)
    async def test_all(self) -> None:
        services = self.wizard.services
        table = self.query_one(DataTable)
        problems = 0
        for index, e in enumerate(self.config.establishments):
            table.update_cell_at(Coordinate(index, STATE_COLUMN), "test…")
            key = await asyncio.to_thread(services.current_key, e)
            if not key:
                table.update_cell_at(Coordinate(index, STATE_COLUMN), "✖ clé")
                problems += 1
                continue
            outcome = await services.test_connection(self.config.api.url, key)
            table.update_cell_at(Coordinate(index, STATE_COLUMN), "✔ TDBA ok" if outcome.ok
                                 else "✖ échec")  # fmt: skip
            problems += not outcome.ok
        self.query_one("#status", Static).update(
            "✔ Tous les établissements répondent : clé acceptée par TDBA." if not problems
            else f"✖ {problems} établissement(s) en échec : « tdba-wizard --check » détaille."
        )  # fmt: skip

"""The home screen when a config exists: establishments, their state, and the actions.

A network keeps hundreds of establishments here: the table has a filter (name, UAI or SIRET;
« / » or any character that is not an action starts it), shows the columns the terminal has
room for (name, UAI, state and last run always), and its states arrive as workers read the
keys and ask TDBA, without blocking the keys.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static
from textual.worker import Worker

from tdba_wizard.config import Config, Establishment
from tdba_wizard.tui.listing import Column, home_columns, matches, shorten
from tdba_wizard.tui.screens.base import QUIT, WorkerFailures
from tdba_wizard.tui.screens.modals import ConfirmModal, HelpModal
from tdba_wizard.tui.services import HomeRow, KeyTest

if TYPE_CHECKING:
    from tdba_wizard.tui.app import WizardApp

ACTION_KEYS = frozenset("aedtp")
"""The actions' keys: typed in the table, they act; any other character starts the filter
(« / » too, its binding being reached only after the keys typed meanwhile)."""
ACTIONS = "a : ajouter · e : modifier · d : retirer · t : tester · p : envoi de nuit · / : filtrer"
HELP = (
    "Le tableau montre chaque établissement : sa clé (✔ clé, ✖ sans clé, ✖ 2 clés : le "
    "trousseau et le fichier protégé en ont deux différentes, ? illisible : le trousseau ne "
    "répond pas ; — Excel : pas de clé), puis, après « t », la réponse de TDBA (✔ acceptée, "
    "✖ refusée, ? non vérif. quand TDBA n'a pas répondu), et le dernier envoi réussi.\n\n"
    "Filtrer : « / », ou tapez directement le début d'un nom, d'un UAI ou d'un SIRET ; "
    "Entrée ou ↓ revient au tableau en gardant le filtre, Échap l'efface.\n\n"
    "a : ajouter un établissement · e : modifier (clé, ERP, SENTITE, nom, export) · d : "
    "retirer (et supprimer sa clé) · t : tester la clé de chacun auprès de TDBA (plusieurs à "
    "la fois) · p : l'envoi de nuit (heure, compte rendu, installation) · Ctrl+Q : quitter."
)


class HomeScreen(WorkerFailures, Screen[None]):
    """Établissements raccordés."""

    AUTO_FOCUS = "#establishments"  # the table, not the filter above it
    BINDINGS = [
        QUIT,
        Binding("a", "add", "Ajouter"),
        Binding("e", "edit", "Modifier"),
        Binding("d", "remove", "Retirer"),
        Binding("t", "test_all", "Tester"),
        Binding("p", "schedule", "Planifier"),
        Binding("slash", "filter", "Filtrer"),
        Binding("f1", "help", "Aide"),
    ]

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config
        self.states: dict[int, str] = {}
        """Per establishment (its index in the configuration): the state shown."""
        self.last_runs: dict[int, str] = {}
        self.shown: list[int] = []
        """The establishments in the table, in order (those the filter keeps)."""
        self.columns: list[Column] = []
        self._marked: int | None = None  # the table row marked « › »
        self._summary: list[str] = []  # what the status said of the keys, or of the test
        self._typing = False  # the filter was started; the focus is on its way to it

    @property
    def wizard(self) -> WizardApp:
        from tdba_wizard.tui.app import WizardApp

        assert isinstance(self.app, WizardApp)
        return self.app

    def compose(self) -> ComposeResult:
        yield Static("tdba-wizard — établissements raccordés à TDBA", classes="step-title")
        # Names, paths and messages are shown as they are: « [Site 2] » is not markup.
        yield Static(f"API : {self.config.api.url}", classes="hint", id="api", markup=False)
        yield Input(
            placeholder="Filtrer par nom, UAI ou SIRET (« / »)", id="filter", select_on_focus=False
        )
        table: DataTable[Text] = DataTable(id="establishments", cursor_type="row")
        yield table
        yield Static("", id="detail", classes="hint", markup=False)
        yield Static("Lecture des clés…", id="status", classes="card", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self._fill()
        self.load_rows()

    def on_screen_resume(self) -> None:
        self._typing = False

    def on_resize(self, event: events.Resize) -> None:
        if home_columns(event.size.width, self._optional()) != self.columns:
            self._fill()

    def _optional(self) -> list[str]:
        """The optional columns that say something here: the ERP when they differ, SENTITE
        when one is set (Ammon)."""
        establishments = self.config.establishments
        wanted = ["siret"]
        if len({self.config.erp_of(e) for e in establishments}) > 1:
            wanted.append("erp")
        if any(e.sentite is not None for e in establishments):
            wanted.append("sentite")
        return wanted

    # -- the table ------------------------------------------------------------------------

    def _fill(self) -> None:
        """(Re)build the table: the columns that fit, the rows the filter keeps."""
        table = self.query_one(DataTable)
        selected = self._selected()
        self.columns = home_columns(self.size.width or self.app.size.width, self._optional())
        table.clear(columns=True)
        for column in self.columns:
            table.add_column(column.label, width=column.width, key=column.key)
        query = self.query_one("#filter", Input).value
        establishments = self.config.establishments
        self.shown = [i for i, e in enumerate(establishments) if matches(e, query)]
        for index in self.shown:
            table.add_row(*map(Text, self._cells(index, establishments[index])), key=str(index))
        self._marked = None
        if selected in self.shown:
            table.move_cursor(row=self.shown.index(selected), animate=False)
        self._mark_cursor()
        self._show_detail()
        self._say_count()

    def _cells(self, index: int, e: Establishment) -> list[str]:
        values = {
            "uai": e.uai,
            "siret": e.siret,
            "erp": self._erp_name(e),
            "sentite": str(e.sentite) if e.sentite is not None else "—",
            "state": self.states.get(index, "…"),
            "last": self.last_runs.get(index, "…"),
        }
        return [
            self._name_cell(index, False) if c.key == "name" else shorten(values[c.key], c.width)
            for c in self.columns
        ]

    def _erp_name(self, e: Establishment) -> str:
        from tdba_wizard import erps

        erp_id = self.config.erp_of(e)
        return erps.BY_ID[erp_id].name if erp_id in erps.BY_ID else erp_id

    def _name_cell(self, index: int, under_cursor: bool) -> str:
        width = next((c.width for c in self.columns if c.key == "name"), 12)
        name = shorten(self.config.establishments[index].name, width - 2)
        return ("› " if under_cursor else "  ") + name

    def _set(self, index: int, column: str, value: str) -> None:
        """Change one cell, if its establishment and its column are shown."""
        if index not in self.shown or column not in {c.key for c in self.columns}:
            return
        width = next(c.width for c in self.columns if c.key == column)
        self.query_one(DataTable).update_cell(str(index), column, Text(shorten(value, width)))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._mark_cursor()
        self._show_detail()

    def _show_detail(self) -> None:
        """The establishment under the cursor in full, whatever the columns cut or left out."""
        index = self._selected()
        detail = ""
        if index is not None:
            e = self.config.establishments[index]
            parts = [f"› {e.name}", f"UAI {e.uai}", f"SIRET {e.siret}", self._erp_name(e)]
            if e.sentite is not None:
                parts.append(f"SENTITE {e.sentite}")
            if e.transmission == "export" and e.source:
                parts.append(f"export {e.source}")
            detail = " · ".join(parts)
        width = max(20, (self.size.width or self.app.size.width) - 2)
        self.query_one("#detail", Static).update(shorten(detail, width))

    def _mark_cursor(self) -> None:
        """The row under the cursor is marked by a character, not only by its colour (two
        cells change: the row left, the row reached)."""
        table = self.query_one(DataTable)
        row = table.cursor_row if self.shown else None
        for old, marked in ((self._marked, False), (row, True)):
            if old is not None and 0 <= old < len(self.shown) and (old != row or marked):
                cell = self._name_cell(self.shown[old], marked)
                table.update_cell_at(Coordinate(old, 0), Text(cell))
        self._marked = row

    def _say_count(self) -> None:
        total, shown = len(self.config.establishments), len(self.shown)
        field = self.query_one("#filter", Input)
        field.border_subtitle = (
            f"{shown} sur {total} — Échap : tout montrer" if field.value.strip() else ""
        )
        width = max(20, (self.size.width or self.app.size.width) - 2)
        line = f"API : {self.config.api.url} — {total} établissement(s)"
        self.query_one("#api", Static).update(shorten(line, width))

    # -- the filter ---------------------------------------------------------------------

    def action_filter(self) -> None:
        self._typing = True
        self.query_one("#filter", Input).focus()

    def on_key(self, event: events.Key) -> None:
        """Type to filter: a character that is not an action starts the filter with it; in the
        filter, ↓ goes back to the table, and Échap (anywhere) clears it.

        Keys reach this screen in the order they were typed, the bindings only after them: « / »
        is taken here, and the keys that come before the focus reaches the filter (typed fast,
        or pasted) are the filter's, never actions."""
        field, table = self.query_one("#filter", Input), self.query_one(DataTable)
        character = event.character if event.is_printable else None
        if self._typing and self.focused is not field and character is not None:
            field.insert_text_at_cursor(character)
            event.stop()
            event.prevent_default()
            return
        if event.key == "escape" and (field.value or self.focused is field):
            field.value = ""
        elif event.key == "down" and self.focused is field:
            pass
        elif self.focused is table and character is not None and character not in ACTION_KEYS:
            self._typing = True
            field.focus()
            if character != "/":  # « / » only opens the filter
                field.insert_text_at_cursor(character)
            event.stop()
            event.prevent_default()
            return
        else:
            return
        event.stop()
        event.prevent_default()
        self._typing = False
        table.focus()
        self._actions_hint()

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        self._fill()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one(DataTable).focus()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self._typing = False  # the focus has moved: keys go where it is
        if not isinstance(event.widget, Input):
            return
        self._status(
            "Tapez une partie du nom, de l'UAI ou du SIRET. Entrée ou ↓ : revenir au tableau en "
            "gardant le filtre · Échap : l'effacer."
        )

    def _actions_hint(self) -> None:
        """Back from the filter: the last summary (keys, test), else the actions."""
        self._status(*(self._summary or [ACTIONS + " · F1 : aide"]))

    # -- states -------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="rows", exit_on_error=False)
    def load_rows(self, message: str = "") -> None:
        rows = self.wizard.services.home_rows(self.config)
        self.app.call_from_thread(self._show_rows, rows, message)

    def _show_rows(self, rows: list[HomeRow], message: str = "") -> None:
        problems = []
        for index, row in enumerate(rows):
            self.states[index] = row.key
            self.last_runs[index] = row.last_sync
            self._set(index, "state", row.key)
            self._set(index, "last", row.last_sync)
            if row.key_problem:
                problems.append(row)
        lines = [message] if message else []
        if not self.config.establishments:
            lines.append("Aucun établissement : « a » pour en ajouter un.")
        elif problems:
            counted = Counter(row.key for row in problems)
            lines.append(
                "✖ Clés à revoir : "
                + ", ".join(f"{count} « {state} »" for state, count in counted.most_common())
                + " ; « e » sur la ligne pour corriger."
            )
            first = problems[0]
            lines.append(f"« {first.establishment.name} » : {first.key_problem}")
        elif not message:
            lines.append(ACTIONS + " · F1 : aide")
        self._summary = lines
        self._status(*lines)

    def _status(self, *lines: str) -> None:
        """The status card: three lines at most, each cut to the screen's width."""
        width = max(20, (self.size.width or self.app.size.width) - 4)
        split = [part for line in lines for part in line.splitlines() if part.strip()]
        wrapped = [w for line in split for w in textwrap.wrap(" ".join(line.split()), width)]
        shown = wrapped[:3]
        if len(wrapped) > 3:
            shown[-1] = shorten(shown[-1] + " …", width)
        self.query_one("#status", Static).update("\n".join(shown))

    def worker_failed(self, worker: Worker[object]) -> None:
        self._status("✖ L'opération n'a pas abouti (voir le message).")

    def _selected(self) -> int | None:
        """The establishment under the cursor (its index in the configuration)."""
        table = self.query_one(DataTable)
        if not self.shown or table.cursor_row < 0 or table.row_count == 0:
            return None
        return self.shown[min(table.cursor_row, len(self.shown) - 1)]

    # -- actions ------------------------------------------------------------------------

    def action_add(self) -> None:
        self.wizard.start_flow("add")

    def action_edit(self) -> None:
        index = self._selected()
        if index is not None:
            self.wizard.start_flow("edit", self.config.establishments[index])

    def action_schedule(self) -> None:
        self.wizard.start_flow("schedule")

    def action_help(self) -> None:
        self.app.push_screen(HelpModal("Accueil", HELP))

    def action_remove(self) -> None:
        index = self._selected()
        if index is None:
            return
        establishment = self.config.establishments[index]

        def confirmed(answer: bool | None) -> None:
            if answer:
                self._status(f"Retrait de « {establishment.name} »…")
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
        self.app.call_from_thread(self.reload, config, message)

    def reload(self, config: Config, message: str = "") -> None:
        """Show ``config`` (changed by a flow, or by a removal), keeping filter and cursor."""
        self.wizard.config = config
        self.config = config
        self.states.clear()
        self.last_runs.clear()
        self._fill()
        self.load_rows(message)

    def action_test_all(self) -> None:
        if not self.config.establishments:
            return
        for index in range(len(self.config.establishments)):
            self.states[index] = "test…"
            self._set(index, "state", "test…")
        self._status(f"Test des {len(self.config.establishments)} établissement(s) auprès de TDBA…")
        self.test_all()

    @work(exclusive=True, group="test", exit_on_error=False)
    async def test_all(self) -> None:
        total = len(self.config.establishments)
        done: list[KeyTest] = []

        def arrived(result: KeyTest) -> None:
            done.append(result)
            self.states[result.index] = result.label
            self._set(result.index, "state", result.label)
            self._status(f"Test auprès de TDBA : {len(done)}/{total} réponse(s)…")

        results = await self.wizard.services.test_keys(self.config, arrived)
        self._summary = self._tested(results)
        self._status(*self._summary)

    def _tested(self, results: list[KeyTest]) -> list[str]:
        """The verdict of « t »: green only when every key was accepted by TDBA."""
        names = self.config.establishments
        accepted = sum(r.ok is True for r in results)
        failed = [r for r in results if r.ok is False]
        unknown = [r for r in results if r.ok is None and r.label != "— Excel"]
        excel = sum(r.label == "— Excel" for r in results)
        without = f" ({excel} en import Excel, sans clé)" if excel else ""
        if not failed and not unknown:
            return [f"✔ {accepted} clé(s) acceptée(s) par TDBA{without}."]
        counts = [f"✖ {len(failed)} en échec"] if failed else []
        counts += [f"? {len(unknown)} non vérifiable(s)"] if unknown else []
        counts.append(f"{accepted} acceptée(s){without}")
        first = (failed or unknown)[0]
        return [
            " · ".join(counts) + " ; « tdba-wizard --check » détaille.",
            f"« {names[first.index].name} » : {first.problem}",
        ]

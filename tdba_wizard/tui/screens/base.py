"""The wizard step: a title, a body, an error line, Back/Next; Enter = next, Esc = back."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Static

from tdba_wizard.tui.screens.modals import HelpModal
from tdba_wizard.tui.services import Draft

if TYPE_CHECKING:
    from tdba_wizard.tui.app import WizardApp


class StepScreen(Screen[None]):
    """One step of the wizard; subclasses fill ``compose_body``, ``check`` and ``apply``."""

    BINDINGS = [
        Binding("escape", "back", "Retour"),
        Binding("f1", "help", "Aide"),
        Binding("ctrl+n", "next", "Suivant"),
    ]
    step_title: ClassVar[str] = ""
    help_text: ClassVar[str] = ""
    next_label: ClassVar[str] = "Suivant"

    @property
    def wizard(self) -> WizardApp:
        from tdba_wizard.tui.app import WizardApp

        assert isinstance(self.app, WizardApp)
        return self.app

    @property
    def draft(self) -> Draft:
        return self.wizard.draft

    def compose(self) -> ComposeResult:
        number, total = self.wizard.step_position(self)
        yield Static(f"Étape {number}/{total} — {self.step_title}", classes="step-title")
        with VerticalScroll(classes="step-body"):
            yield from self.compose_body()
        yield Static("", id="step-error", classes="error")
        with Horizontal(classes="buttons"):
            yield Button("Retour", id="back")
            yield Button(self.next_label, id="next", variant="primary")
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def check(self) -> str | None:
        """Return a French message when the step cannot be left yet."""
        return None

    def apply(self, draft: Draft) -> None:
        """Write this step's answers into the draft."""

    def show_error(self, message: str | None) -> None:
        self.query_one("#step-error", Static).update(message or "")

    def action_next(self) -> None:
        message = self.check()
        self.show_error(message)
        if message is None:
            self.apply(self.draft)
            self.wizard.next_step()

    def action_back(self) -> None:
        self.wizard.previous_step()

    def action_help(self) -> None:
        self.app.push_screen(HelpModal(self.step_title, self.help_text))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "next":
            event.stop()
            self.action_next()
        elif event.button.id == "back":
            event.stop()
            self.action_back()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_next()

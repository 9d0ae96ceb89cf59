"""Small modal screens: confirmation and help."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmModal(ModalScreen[bool]):
    """Ask a yes/no question; returns True for yes."""

    BINDINGS = [Binding("escape", "dismiss(False)", "Annuler")]

    def __init__(self, question: str, yes: str = "Oui", no: str = "Non") -> None:
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal"):
            yield Static(self.question, classes="modal-text")
            with Horizontal(classes="buttons"):
                yield Button(self.no, id="no")
                yield Button(self.yes, id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class HelpModal(ModalScreen[None]):
    """Show the help of a step."""

    BINDINGS = [Binding("escape,f1,enter", "dismiss(None)", "Fermer")]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.help_title, self.text = title, text

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal"):
            yield Static(f"[b]Aide — {self.help_title}[/b]", classes="modal-title")
            yield Static(self.text, classes="modal-text")
            with Horizontal(classes="buttons"):
                yield Button("Fermer", id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)


class ErrorModal(ModalScreen[None]):
    """Say, in French, that something could not be done, and that the wizard goes on."""

    BINDINGS = [Binding("escape,enter", "dismiss(None)", "Fermer")]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.error_title, self.text = title, text

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal error-modal"):
            yield Static(f"[b]✖ {self.error_title}[/b]", classes="modal-title")
            yield Static(self.text, classes="modal-text", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Fermer", id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

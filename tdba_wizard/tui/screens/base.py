"""The wizard step: a title, a body, an error line, Back/Next; Enter = next, Esc = back.

Every screen of the wizard runs its I/O (keyring, files, network, crontab) in workers started
with ``exit_on_error=False``; :class:`WorkerFailures` hands a failed worker to the app, which
shows one error screen for all of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Static
from textual.worker import Worker, WorkerState

from tdba_wizard.tui.screens.modals import HelpModal
from tdba_wizard.tui.services import Draft

if TYPE_CHECKING:
    from tdba_wizard.tui.app import WizardApp

QUIT = Binding("ctrl+q", "app.request_quit", "Quitter")
"""First in each screen's bindings, so that the footer shows it even at 80 columns."""


class Body(VerticalScroll, can_focus=False):
    """A step's content: scrolls, but never takes the focus from the step's first control."""


class WorkerFailures:
    """Mixin for screens: a worker that raised goes to the app's error screen."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.worker_failed(event.worker)
            from tdba_wizard.tui.app import WizardApp

            app = self.app  # type: ignore[attr-defined]
            assert isinstance(app, WizardApp)
            app.show_failure(event.worker.error)

    def worker_failed(self, worker: Worker[object]) -> None:
        """Put the screen back in a usable state after a failed worker (buttons, hints)."""


class StepScreen(WorkerFailures, Screen[None]):
    """One step of the wizard; subclasses fill ``compose_body``, ``check`` and ``apply``."""

    BINDINGS = [
        QUIT,
        Binding("escape", "back", "Retour"),
        Binding("ctrl+n", "next", "Suivant"),
        Binding("f1", "help", "Aide"),
    ]
    step_title: ClassVar[str] = ""
    help_text: ClassVar[str] = ""
    next_label: ClassVar[str] = "Suivant"

    def __init_subclass__(cls, **kwargs: object) -> None:
        if cls.next_label != "Suivant":  # the footer says what Ctrl+N does on this step
            cls.BINDINGS = [
                Binding("ctrl+n", "next", cls.next_label) if isinstance(b, Binding)
                and b.key == "ctrl+n" else b
                for b in cls.BINDINGS
            ]  # fmt: skip
        super().__init_subclass__(**kwargs)  # type: ignore[arg-type]

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
        yield Static(
            f"{self.wizard.flow_title} — étape {number}/{total} : {self.step_title}",
            classes="step-title",
        )
        with Body(classes="step-body"):
            yield from self.compose_body()
        yield Static("", id="step-error", classes="error")
        with Horizontal(classes="buttons"):
            yield Button("Retour", id="back")
            yield Button(self.next_label, id="next", variant="primary")
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        """Put back what was typed before « Retour », then focus the first control."""
        typed = self.draft.typed
        for field in self.query(Input):
            if field.id in typed and not field.password:
                field.value = typed[field.id]
        self.call_after_refresh(self.focus_first)

    def focus_first(self) -> None:
        """Focus the first control of the step (arrows and Enter work at once)."""
        if self.focused is None:
            self.focus_next()

    def check(self) -> str | None:
        """Return a French message when the step cannot be left yet."""
        return None

    def apply(self, draft: Draft) -> None:
        """Write this step's answers into the draft."""

    def show_error(self, message: str | None) -> None:
        self.query_one("#step-error", Static).update(message or "")
        self._error_shown = bool(message)

    @on(Input.Changed)
    def recheck(self) -> None:
        """An error line goes away once what it said is fixed (or says what is left)."""
        if getattr(self, "_error_shown", False):
            self.show_error(self.check())

    def remember_typed(self) -> None:
        """Keep what was typed (never a password field) for when the step comes back."""
        for field in self.query(Input):
            if field.id and not field.password:
                self.draft.typed[field.id] = field.value

    def action_next(self) -> None:
        message = self.check()
        self.show_error(message)
        if message is None:
            self.remember_typed()
            self.apply(self.draft)
            self.wizard.next_step()

    def action_back(self) -> None:
        self.remember_typed()
        self.wizard.previous_step()

    def action_help(self) -> None:
        self.app.push_screen(HelpModal(self.step_title, self.help_text))

    @on(Button.Pressed, "#next")
    def pressed_next(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_next()

    @on(Button.Pressed, "#back")
    def pressed_back(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_back()

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        """Enter: on to the next step if this one is complete, else to the next field."""
        event.stop()
        if self.check() is not None:
            fields = [f for f in self.query(Input) if f.display and f.parent is not None
                      and f.parent.display and not f.disabled]  # fmt: skip
            if event.input in fields and fields.index(event.input) + 1 < len(fields):
                fields[fields.index(event.input) + 1].focus()
                return
        self.action_next()

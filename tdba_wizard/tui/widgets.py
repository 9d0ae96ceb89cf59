"""The validated field: a label, an input, and its error underneath."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.validation import Validator
from textual.widget import Widget
from textual.widgets import Input, Label, RadioButton, RadioSet, Static


class Field(Vertical):
    """A labelled input that shows its validator's French message below it as you type."""

    DEFAULT_CLASSES = "field"

    def __init__(
        self,
        label: str,
        *,
        field_id: str,
        value: str = "",
        placeholder: str = "",
        validator: Validator | None = None,
        password: bool = False,
        classes: str = "",
    ) -> None:
        super().__init__(id=f"{field_id}-field", classes=f"field {classes}".strip())
        self.label = label
        self.input = Input(
            value=value,
            placeholder=placeholder,
            id=field_id,
            password=password,
            validators=[validator] if validator else [],
            validate_on=["changed", "submitted"],
        )

    def compose(self) -> ComposeResult:
        yield Label(self.label)
        yield self.input
        yield Static("", classes="field-error")

    @property
    def value(self) -> str:
        return self.input.value

    def on_input_changed(self, event: Input.Changed) -> None:
        result = event.validation_result
        message = (
            ""
            if result is None or result.is_valid or not event.value
            else (result.failure_descriptions[0] if result.failure_descriptions else "")
        )
        self.query_one(".field-error", Static).update(message)

    def error(self) -> str | None:
        """Return the validator's message for the current value, or None."""
        result = self.input.validate(self.input.value)
        if result is None or result.is_valid:
            return None
        return result.failure_descriptions[0] if result.failure_descriptions else "Valeur invalide."


class Choice(RadioButton):
    """A radio button whose state shows in the text itself: ``(●)`` chosen, ``( )`` not, and
    ``›`` in front of the one under the cursor of a focused set (not only in colour)."""

    @property
    def _button(self) -> Content:
        inner = self.get_visual_style("toggle--button")
        return Content.assemble("(", ("●" if self.value else " ", inner), ")")

    def render(self) -> Content:
        parent = self.parent
        cursor = self.has_class("-selected") and isinstance(parent, Widget) and parent.has_focus
        return Content.assemble("› " if cursor else "  ", super().render())


class Choices(RadioSet):
    """A radio set whose state shows in text (see :class:`Choice`). Space chooses; Enter
    chooses and says so with :class:`Choices.Submitted`, for a step to move on."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "choose", "Choisir", show=False),
    ]

    @dataclass
    class Submitted(Message):
        """Enter was pressed on a choice (now the pressed one)."""

        choices: Choices

    def action_choose(self) -> None:
        self.action_toggle_button()
        self.post_message(self.Submitted(self))

    def on_focus(self) -> None:
        for button in self.query(Choice):
            button.refresh()

    def on_blur(self) -> None:
        for button in self.query(Choice):
            button.refresh()

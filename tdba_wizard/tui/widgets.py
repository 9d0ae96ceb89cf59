"""The validated field: a label, an input, and its error underneath."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.validation import Validator
from textual.widgets import Input, Label, Static


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
    ) -> None:
        super().__init__(id=f"{field_id}-field")
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

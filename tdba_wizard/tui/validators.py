"""Textual validators: thin wrappers around the pure functions of ``identifiers``."""

from __future__ import annotations

from collections.abc import Callable

from textual.validation import ValidationResult, Validator

from tdba_wizard.identifiers import IdentifierError


class IdentifierValidator(Validator):
    """Validate with one ``parse_*`` function; its French message is the failure."""

    def __init__(self, parse: Callable[[str], object], *, optional: bool = False) -> None:
        super().__init__()
        self.parse = parse
        self.optional = optional

    def validate(self, value: str) -> ValidationResult:
        if self.optional and not value.strip():
            return self.success()
        try:
            self.parse(value)
        except (IdentifierError, ValueError) as error:
            return self.failure(str(error))
        return self.success()

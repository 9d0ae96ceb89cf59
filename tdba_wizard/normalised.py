"""Recognise, in compiled code, the records that :func:`validate_dossier` would return unchanged.

A record already in normal form (what the nightly job sends: ISO dates, trimmed strings,
uppercase UAI, digits-only SIRET...) passes every rule as it is. For a JSON array of such
records, one pydantic-core schema parses and checks the whole batch several times faster than
the Python rules do; any item it does not recognise is left to :func:`validate_dossier`,
which gives TDBA's own messages. Each field's schema accepts a *subset* of what its rule
returns unchanged, never more: a value in doubt (a null, a lowercase name, a 29 February,
an integer where a string is usual...) simply takes the full path. The property tests check
that both paths agree.
"""

from __future__ import annotations

import functools
from typing import Any

import pydantic_core
from pydantic_core import core_schema as cs

from tdba_wizard.dossiers import (
    FIELD_RULES,
    REQUIRED_FIELDS,
    SIFA_SITUATIONS,
    ColumnCheck,
    derive_months,
)

# Regular expressions in the syntax of pydantic-core (Rust), matched against whole strings.
# A first or last character that str.strip() can never remove: a letter, number, punctuation
# or symbol (Python's whitespace is only in the separator and control categories).
_EDGE = r"[\p{L}\p{N}\p{P}\p{S}]"
_TRIMMED = rf"{_EDGE}(?s:.*{_EDGE})?"  # non-empty, nothing to trim
_UPPER_NAME = r"[A-ZÀ-ÖØ-Þ](?:[A-ZÀ-ÖØ-Þ '\-]*[A-ZÀ-ÖØ-Þ])?"  # unchanged by str.upper()
# A day that exists (29 February excepted: it takes the full path), then an optional time.
_DAY = (
    r"[1-9][0-9]{3}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    r"|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
)
_EMAIL_PART = r"[\p{L}\p{N}\p{P}\p{S}&&[^@]]+"  # never whitespace nor @
_SIRET = r"[0-9]{14}"
_CODE_POSTAL = r"[0-9]{5}"
# By the name of the rule in FIELD_RULES: strings the rule returns as they are (never all
# of them: only what can be recognised without doubt).
_SAME_STRING: dict[str, str] = {
    "text": _TRIMMED,
    "to_text": _TRIMMED,
    "id_erp": _TRIMMED,
    "nom": _UPPER_NAME,
    "upper_text": r"[0-9A-Z](?:[0-9A-Z \-]*[0-9A-Z])?",
    "iso_date": rf"{_DAY}(?:T[0-9:.]+(?:Z|[+\-][0-9]{{2}}:?[0-9]{{2}})?)?",
    "uai": r"[0-9]{7}[A-Z]",
    "siret": _SIRET,
    "siret_or_null": _SIRET,
    "email": rf"{_EMAIL_PART}@{_EMAIL_PART}\.{_EMAIL_PART}",
    "telephone": r"0[1-9][0-9]{8}",
    "rncp": r"RNCP[0-9]{2,5}",
    "cfd": r"[A-Z0-9]{8}",
    "code_postal": _CODE_POSTAL,
    "code_postal_or_null": _CODE_POSTAL,
    "insee": r"(?:[0-9]{2}|2A|2B)[0-9]{3}",
    "dernier_organisme": (
        r"0?[0-9][0-9]|0?2[AB]|0?9[012345]|97[1234678]|98[678]|99[0135]|[0-9]{7}[a-zA-Z]"
    ),
}
# Rules made per field (text_min): by field name.
_SAME_STRING_OF_FIELD = {
    "prenom_apprenant": _TRIMMED,  # text_min(1)
    "libelle_court_formation": rf"{_EDGE}(?s:.*){_EDGE}",  # text_min(2): two characters
}
_SCHOOL_YEARS = [f"{year}-{year + step}" for year in range(2000, 2100) for step in (0, 1)]


def same_string(name: str) -> str | None:
    """Return a pattern of strings the field's rule returns as they are (None: none known)."""
    if name in _SAME_STRING_OF_FIELD:
        return _SAME_STRING_OF_FIELD[name]
    rule = FIELD_RULES.get(name)
    return None if rule is None else _SAME_STRING.get(rule.__name__)


def _one_of(values: list[Any], kind: cs.CoreSchema) -> cs.CoreSchema:
    return cs.chain_schema([kind, cs.literal_schema(values)])


def _not_here(value: Any) -> Any:
    raise ValueError("full path")  # e.g. the NIR: the server keeps only whether one was given


# The rules that return other types than strings, by name.
_SAME_VALUE: dict[str, cs.CoreSchema] = {
    "annee_scolaire": _one_of(_SCHOOL_YEARS, cs.str_schema(strict=True)),
    "statut": _one_of([0, 2, 3], cs.int_schema(strict=True)),
    "annee_formation": cs.int_schema(strict=True, ge=0, le=5),
    "sexe": _one_of(["M", "F"], cs.str_schema(strict=True)),
    "boolean": cs.bool_schema(strict=True),
    "derniere_situation": _one_of(sorted(SIFA_SITUATIONS), cs.int_schema(strict=True)),
    "type_cfa": _one_of([f"{n:02d}" for n in range(1, 11)], cs.str_schema(strict=True)),
}
_SAME_VALUE_OF_FIELD: dict[str, cs.CoreSchema] = {
    "duree_theorique_formation": cs.int_schema(strict=True, ge=1, le=4),
    "duree_theorique_formation_mois": cs.int_schema(strict=True, ge=1, le=48),
    "nir_apprenant": cs.no_info_plain_validator_function(_not_here),
}


def _field_schema(name: str) -> cs.CoreSchema:
    pattern = same_string(name)
    if pattern is not None:
        return cs.str_schema(pattern=f"^(?:{pattern})$", strict=True)
    if name in _SAME_VALUE_OF_FIELD:
        return _SAME_VALUE_OF_FIELD[name]
    return _SAME_VALUE[FIELD_RULES[name].__name__]


@functools.cache
def same_cells(name: str) -> ColumnCheck | None:
    """Return a check, for :class:`RowValidator`, that each cell of a column is empty or one
    its field's rule returns as it is; it raises ValidationError (a ValueError) otherwise.
    None when no such value is known for the field."""
    pattern = same_string(name)
    if pattern is None:
        return None
    cell = cs.str_schema(pattern=f"^(?:{pattern})?$", strict=True)
    return pydantic_core.SchemaValidator(cs.list_schema(cell)).validate_python


@functools.cache
def batch_validator(max_items: int) -> pydantic_core.SchemaValidator:
    """Parse a JSON array of at most ``max_items`` items; normalised records, None elsewhere.

    Raises ValidationError when the body is not such an array (invalid JSON included).
    """
    fields = {
        name: cs.typed_dict_field(_field_schema(name), required=name in REQUIRED_FIELDS)
        for name in (*FIELD_RULES, "nir_apprenant")
    }
    record = cs.typed_dict_schema(fields, extra_behavior="ignore")  # unknown fields: dropped
    item = cs.with_default_schema(record, default=None, on_error="default")
    return pydantic_core.SchemaValidator(cs.list_schema(item, max_length=max_items))


def recognised(body: bytes, max_items: int) -> list[dict[str, Any] | None] | None:
    """Return each item of a JSON array as :func:`validate_dossier` would normalise it, when
    it is already in normal form (None for the others); None when the body is not an array
    of at most ``max_items`` items."""
    try:
        items: list[dict[str, Any] | None] = batch_validator(max_items).validate_json(body)
    except ValueError:  # ValidationError is one
        return None
    for record in items:
        if record is not None:
            derive_months(record)
    return items

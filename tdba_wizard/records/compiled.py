"""Values TDBA certainly accepts as they are, recognised in compiled code (pydantic-core).

The rules of :mod:`tdba_wizard.records.rules` run in Python, one value at a time. Most values
of a nightly export are plain (``"0612345678"``, ``"2025-09-01"``, ``"75001"``): for each field,
a pattern of values that the field's rule accepts unchanged and without a note lets
pydantic-core recognise a whole column of cells, or a whole batch of records, at once. Each
pattern is a *subset* of what the rule accepts, never more: a value in doubt (a 29 February,
an e-mail with a quote, a phone number abroad) simply takes the rules. The property tests
check every pattern against the rules.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import pydantic_core
from pydantic_core import core_schema as cs

from tdba_wizard.records import rules
from tdba_wizard.records.dossier import DATA_FIELDS, FIELDS, REQUIRED_FIELDS
from tdba_wizard.records.rules import SIFA_CODES, Rule

# Characters JavaScript's trim() never removes (a value made of them needs no trimming).
_WS = (
    r"\t\n\x0B\x0C\r \x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}"
    r"\x{3000}\x{FEFF}"
)
_SOLID = rf"[^{_WS}]"
_UNTRIMMED = rf"{_SOLID}(?s:.*{_SOLID})?"  # non-empty, nothing to trim
_TWO_SOLID = rf"{_SOLID}(?s:.*){_SOLID}"  # two characters or more, nothing to trim
_ANY = r"(?s:.*)"
# A day that exists (29 February excepted), then an optional ISO time that V8 reads.
_DAY = (
    r"[1-9][0-9]{3}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    r"|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
)
_HOUR = r"(?:[01][0-9]|2[0-3])"
_TIME = (
    rf"(?:T{_HOUR}:[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{{1,9}})?)?"
    rf"(?:Z|[+-]{_HOUR}:[0-5][0-9])?)?"
)
_EMAIL = r"[A-Za-z0-9_+\-]+(?:\.[A-Za-z0-9_+\-]+)*@(?:[A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}"
# French numbers that are valid and not special, as 0X XX XX XX XX or +33 X XX XX XX XX (with
# or without separators): mobiles 06 (but 069, overseas) and 07 [3-9], and the geographic
# ranges outside the overseas ones (059, 026...), which TDBA reads with another region.
_PAIRS = r"(?:[ .\-]?[0-9]{2}){3}"
_PHONE = (
    r"(?:0|\+33 ?)(?:6[ .\-]?(?:[0-24-8][0-9]|3[0-8])|7[ .\-]?[3-9][0-9]|[13][ .\-]?[0-9]{2}"
    r"|2[ .\-]?[0-57-9][0-9]|4[ .\-]?[1-9][0-9]|5[ .\-]?[0-8][0-9])" + _PAIRS
)
_SCHOOL_YEARS = [f"{year}-{year + step}" for year in range(1990, 2100) for step in (0, 1)]
_SIFA = sorted(SIFA_CODES)

# By field rule: (strings accepted as they are, whole numbers accepted).
_KINDS: dict[Rule, tuple[str | list[str] | None, tuple[int, int] | list[int] | None]] = {
    rules.nom: (_UNTRIMMED, None),
    rules.prenom: (_UNTRIMMED, None),
    rules.libelle_court: (_TWO_SOLID, None),
    rules.trimmed_text: (_UNTRIMMED, None),
    rules.text: (_ANY, None),
    rules.email: (_EMAIL, None),
    rules.email_untrimmed: (_EMAIL, None),
    rules.uai: (r"[0-9]{7}[A-Z]", None),
    rules.id_erp: (_UNTRIMMED, None),
    rules.ine: (r"[0-9A-Z]+", None),
    rules.siret: (r"[0-9]{14}", None),
    rules.insee: (r"(?:[0-9]{2}|2A|2B)[0-9]{3}", (10000, 99999)),
    rules.code_postal: (r"[0-9]{5}", None),
    rules.annee_scolaire: (_SCHOOL_YEARS, None),
    rules.rncp: (r"RNCP[0-9]{2,5}", None),
    rules.cfd: (r"[A-Z0-9]{8}", None),
    rules.custom_statut: (_ANY, None),
    rules.dernier_organisme: (
        r"0?[0-9][0-9]|0?2[AB]|0?9[012345]|97[1234678]|98[678]|99[0135]|[0-9]{7}[A-Z]",
        None,
    ),
    rules.iso_date: (_DAY + _TIME, None),
    rules.statut: (["0", "2", "3"], [0, 2, 3]),
    rules.annee_formation: (r"[0-5]", (0, 5)),
    rules.derniere_situation: ([str(code) for code in _SIFA], _SIFA),
    rules.type_cfa: (r"0[1-9]|10", (1, 10)),
    rules.sexe: (["M", "F"], None),
    rules.telephone: (_PHONE, None),
}
# Rules that refuse nothing: any value is accepted (they may drop it, which is not an error).
_NEVER_REFUSE: frozenset[Rule] = frozenset(
    {rules.siret_or_null, rules.code_postal_or_null, rules.nir, rules.duree_annees,
     rules.duree_mois}
)  # fmt: skip


def unchanged_pattern(field_name: str) -> str | None:
    """Return the pattern of strings TDBA accepts unchanged for a field (None: not known)."""
    kind = _KINDS.get(FIELDS[field_name].kind)
    if kind is None or kind[0] is None:
        return None
    strings = kind[0]
    if isinstance(strings, list):
        return "|".join(strings)
    return strings


def _string_schema(strings: str | list[str]) -> cs.CoreSchema:
    if isinstance(strings, list):
        return cs.literal_schema(list(strings))
    return cs.str_schema(pattern=f"^(?:{strings})$", strict=True)


def _field_schema(name: str) -> cs.CoreSchema:
    rule = FIELDS[name].kind
    if rule in _NEVER_REFUSE:
        # Any value, but only the plain JSON ones: pydantic-core reads NaN and Infinity,
        # which JavaScript refuses, and keeps big integers exact where JavaScript rounds.
        safe = 2**53 - 1
        return cs.union_schema(
            [cs.str_schema(strict=True), cs.int_schema(strict=True, ge=-safe, le=safe),
             cs.bool_schema(strict=True)]
        )  # fmt: skip
    if rule is rules.boolean:
        return cs.bool_schema(strict=True)
    strings, numbers = _KINDS[rule]
    choices: list[cs.CoreSchema | tuple[cs.CoreSchema, str]] = []
    if strings is not None:
        choices.append(_string_schema(strings))
    if isinstance(numbers, tuple):
        choices.append(cs.int_schema(strict=True, ge=numbers[0], le=numbers[1]))
    elif isinstance(numbers, list):
        choices.append(cs.chain_schema([cs.int_schema(strict=True), cs.literal_schema(numbers)]))
    return cs.union_schema(choices)


@functools.cache
def _batch_validator(max_items: int) -> pydantic_core.SchemaValidator:
    fields = {
        name: cs.typed_dict_field(_field_schema(name), required=name in REQUIRED_FIELDS)
        for name in DATA_FIELDS
    }
    # Any other key (a server field, "__proto__", a typo) takes the rules.
    record = cs.typed_dict_schema(fields, extra_behavior="forbid")
    item = cs.with_default_schema(record, default=None, on_error="default")
    return pydantic_core.SchemaValidator(cs.list_schema(item, max_length=max_items))


def accepted(body: bytes, max_items: int) -> list[dict[str, Any] | None] | None:
    """Return, for a JSON array of at most ``max_items`` items, each item TDBA certainly
    accepts as it is (its fields in the schema's order), None for the others; None when the
    body is not such an array (or is not JSON that pydantic-core reads like JavaScript)."""
    try:
        items: list[dict[str, Any] | None] = _batch_validator(max_items).validate_json(body)
    except ValueError:  # ValidationError is one; so is a lone surrogate, JSON it refuses
        return None
    return items


ColumnCheck = Callable[[Sequence[str]], object]  # raises ValueError when a cell is not known


@functools.cache
def unchanged_cells(name: str) -> ColumnCheck | None:
    """Return a check, for a column of export cells, that each cell is empty or one TDBA
    accepts unchanged; it raises ValidationError (a ValueError) otherwise. None when no such
    value is known for the field."""
    if name not in FIELDS:
        return None
    pattern = unchanged_pattern(name)
    if pattern is None:
        return None
    if pattern == _ANY:  # a blank cell is an absent value, not an empty text
        pattern = rf"(?s:.*){_SOLID}(?s:.*)"
    cell = cs.str_schema(pattern=f"^(?:{pattern})?$", strict=True)
    return pydantic_core.SchemaValidator(cs.list_schema(cell)).validate_python

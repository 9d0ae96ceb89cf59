"""Records from export rows: what ``sync`` sends, and how TDBA will judge it.

``sync`` sends what the ERP exported, as TDBA's own spreadsheet import would read it (dates
``JJ/MM/AAAA`` turned into ``AAAA-MM-JJ``, ``VRAI``/``OUI``/``1`` into true...), never a
value it normalised itself: TDBA trims, upper-cases and pads on its side, so what it stores
is what it would store from the raw record. Two exceptions: fields TDBA does not know are
not sent (it drops them), and the NIR is sent as ``true``, because TDBA keeps only whether
one was given (``has_nir = Boolean(nir_apprenant)``) and the number itself never leaves
this machine.

:func:`payload` does this for one row of values (JSON, XLSX); :class:`RowValidator` for
blocks of CSV rows, column by column, several times faster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import pydantic_core

from tdba_wizard.records.compiled import ColumnCheck
from tdba_wizard.records.dossier import (
    DATA_FIELDS,
    FIELDS,
    REQUIRED_FIELDS,
    SCHEMA,
    SCHEMA_ORDER,
    FieldError,
    Judgement,
    judge,
)
from tdba_wizard.records.js import UNDEFINED, trim, truthy

NIR = "nir_apprenant"
# At most MEMO_SIZE distinct cells remembered per column; past that, new ones are judged
# each time.
MEMO_SIZE = 4096
_SKIP = object()  # a cell that gives no field (empty, blank, unknown column)
_UNSEEN = object()  # a cell its column has not remembered
# The memos, shared by the validators of a process (a reading process reads one export after
# another: the same dates come back): what a cell gives depends on the field, the conversion
# and the cell only.
_MEMOS: dict[tuple[str, Conversion | None], dict[str, Any]] = {}


def is_blank(cell: str) -> bool:
    """Return True for a cell with nothing but whitespace (an absent value)."""
    return not trim(cell)


def payload(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return what is sent for a row: its TDBA fields as given, in the schema's order."""
    sent: dict[str, Any] = {}
    for name in DATA_FIELDS:
        if name in values:
            value = values[name]
            if value is None:
                continue
            if name == NIR:
                if truthy(value):
                    sent[NIR] = True
                continue
            sent[name] = value
    return sent


@dataclass
class RowsChecked:
    """A block of rows: each row's record to send (None: an empty line), and, by index in
    the block, the errors of the rows TDBA will refuse and the changes it makes silently."""

    records: list[dict[str, Any] | None]
    errors: dict[int, list[FieldError]]
    notes: dict[int, list[tuple[str, str]]] = field(default_factory=dict)

    def judgement(self, index: int) -> Judgement:
        """Return row ``index`` as a judgement (its record as the output)."""
        return Judgement(
            self.records[index] or {}, self.errors.get(index, []), self.notes.get(index, [])
        )


def _fit(cells: Sequence[str], width: int) -> Sequence[str]:
    return [*cells[:width], *[""] * (width - len(cells))]


def _unknown_cells(check: ColumnCheck, cells: Sequence[str]) -> list[int]:
    """Return the indexes of the cells a column's check does not know (none: all known)."""
    try:
        check(cells)
    except pydantic_core.ValidationError as error:
        return sorted({int(item["loc"][0]) for item in error.errors(include_url=False)})
    return []


Conversion = Callable[[str], Any]


class RowValidator:
    """:func:`judge` of :func:`payload` for rows of cells in a fixed column order (CSV).

    The same rules, messages and order, for a block of rows at a time, column by column:

    - ``same(name)`` may give a compiled check that each cell of a column is empty or a value
      TDBA accepts unchanged: such a column is then taken as it is;
    - otherwise each column remembers, per distinct cell, what it gives (the cell converted
      as TDBA's import would, the field's verdict), so that most cells are one look-up.

    ``convert`` gives the conversion of a column (None: none). Blank cells are absent.
    """

    def __init__(
        self,
        columns: Sequence[str],
        convert: Callable[[str], Conversion | None],
        same: Callable[[str], ColumnCheck | None] = lambda name: None,
    ) -> None:
        if len(set(columns)) != len(columns):
            raise ValueError("duplicate columns: validate the rows as dicts")
        self.columns = tuple(columns)
        # Per column: (field name or None, conversion, memo, check).
        self._plan: list[tuple[str | None, Conversion | None, dict[str, Any], Any]] = []
        for name in columns:
            known = name if name in FIELDS and name in DATA_FIELDS else None
            conversion = convert(name) if known else None
            check = same(name) if known and conversion is None and name != NIR else None
            memo = _MEMOS.setdefault((known, conversion), {"": _SKIP}) if known else {}
            self._plan.append((known, conversion, memo, check))
        self._checked = [False] * len(self._plan)  # per column: its check passed last time
        given = {name for name, _, _, _ in self._plan if name}
        # What an absent field gives, field by field (the required ones are refused).
        self._absent = {f.name: f.rule(UNDEFINED) for f in SCHEMA if f.name in DATA_FIELDS}
        self._missing_errors = sorted(
            (SCHEMA_ORDER[name], [FieldError(m, (name,)) for m in judged.messages])
            for name, judged in self._absent.items()
            if name not in given and judged.messages
        )
        self._erp = columns.index("id_erp_apprenant") if "id_erp_apprenant" in columns else None

    def validate(self, cells: Sequence[str]) -> Judgement | None:
        """Return one row's record and verdict, or None for a row with no value."""
        checked = self.validate_rows([cells])
        return None if checked.records[0] is None else checked.judgement(0)

    def validate_rows(self, rows: Sequence[Sequence[str]]) -> RowsChecked:
        """:meth:`validate` for each row (a block of a few hundred rows is the fast way)."""
        width = len(self._plan)
        if not rows:
            return RowsChecked([], {})
        rows = [cells if len(cells) == width else _fit(cells, width) for cells in rows]
        problems: dict[int, list[tuple[int, list[FieldError]]]] = {}
        notes: dict[int, list[tuple[str, str]]] = {}
        columns = [
            self._column(position, cells, problems, notes)
            for position, cells in enumerate(zip(*rows, strict=True))
        ] if width else []  # fmt: skip
        records: list[dict[str, Any] | None] = list(self._records(columns, len(rows)))
        missing = self._missing_errors
        errors: dict[int, list[FieldError]] = {}
        for index, cells in enumerate(rows):
            found = problems.get(index)
            if not found and not missing:
                continue
            if all(map(is_blank, cells)):
                records[index] = None  # an empty line
                notes.pop(index, None)
                continue
            ordered = sorted([*missing, *(found or [])], key=lambda item: item[0])
            errors[index] = [error for _, group in ordered for error in group]
        for index, record in enumerate(records):
            if record is not None and not record and index not in errors:
                records[index] = None  # only blank cells
        for found_notes in notes.values():
            found_notes.sort(key=lambda note: SCHEMA_ORDER[note[0]])
        return RowsChecked(records, errors, notes)

    def each(self, rows: Sequence[Sequence[str]]) -> list[Judgement | None]:
        """Return :meth:`validate_rows` row by row (None: an empty line)."""
        checked = self.validate_rows(rows)
        return [
            None if record is None else checked.judgement(index)
            for index, record in enumerate(checked.records)
        ]

    def _judge_cell(self, name: str, conversion: Conversion | None, cell: str) -> Any:
        """Return (value sent or _SKIP, messages, note) for a cell seen the first time."""
        if is_blank(cell):
            judged = self._absent[name]  # a blank cell is an absent value
            return (_SKIP, judged.messages, None)
        value = conversion(cell) if conversion is not None else cell
        if name == NIR:
            return (True, (), None)  # a non-empty cell: a NIR was given
        judged = FIELDS[name].rule(value)
        return (value, judged.messages, judged.note)  # a refused row is not sent anyway

    def _column(
        self,
        position: int,
        cells: Sequence[str],
        problems: dict[int, list[tuple[int, list[FieldError]]]],
        notes: dict[int, list[tuple[str, str]]],
    ) -> list[Any]:
        """Return the values sent of one column of a block (_SKIP: none); add its refusals to
        ``problems`` and its silent changes to ``notes``, by row.

        A column whose memo knew every cell of the last block starts with its memo; one that
        needed its check last time (values unique to each learner) starts with the check,
        and only the cells the check does not know are judged by the rules.
        """
        name, _, memo, check = self._plan[position]
        if name is None:  # a column TDBA does not know: not sent
            return [_SKIP] * len(cells)
        if check is not None and self._checked[position]:
            return self._checked_first(name, position, cells, check, problems, notes)
        seen = list(map(memo.get, cells, repeat(_UNSEEN)))
        if _UNSEEN in seen and check is not None:
            self._checked[position] = True
            return self._checked_first(name, position, cells, check, problems, notes)
        self._checked[position] = False
        return self._judged(name, position, cells, range(len(cells)), seen, problems, notes)

    def _checked_first(
        self,
        name: str,
        position: int,
        cells: Sequence[str],
        check: ColumnCheck,
        problems: dict[int, list[tuple[int, list[FieldError]]]],
        notes: dict[int, list[tuple[str, str]]],
    ) -> list[Any]:
        """A column taken as it is where its check knows the cells, judged elsewhere."""
        unknown = _unknown_cells(check, cells)
        if "" in cells:
            values = [cell if cell else _SKIP for cell in cells]
            messages = self._absent[name].messages
            if messages:  # an empty cell of a required field
                errors = [FieldError(message, (name,)) for message in messages]
                order = SCHEMA_ORDER[name]
                for index, cell in enumerate(cells):
                    if not cell:
                        problems.setdefault(index, []).append((order, errors))
        else:
            values = list(cells)
        if unknown:
            memo = self._plan[position][2]
            seen = [memo.get(cell, _UNSEEN) for cell in cells]
            judged = self._judged(name, position, cells, unknown, seen, problems, notes)
            for index in unknown:
                values[index] = judged[index]
        return values

    def _judged(
        self,
        name: str,
        position: int,
        cells: Sequence[str],
        indexes: Iterable[int],
        seen: list[Any],
        problems: dict[int, list[tuple[int, list[FieldError]]]],
        notes: dict[int, list[tuple[str, str]]],
    ) -> list[Any]:
        """Return the values of a column's cells at ``indexes`` (the others: _SKIP), judged
        by the rules unless ``seen`` (the memo) knows them."""
        _, conversion, memo, _ = self._plan[position]
        order = SCHEMA_ORDER[name]
        values: list[Any] = [_SKIP] * len(cells)
        for index in indexes:
            found = seen[index]
            if found is _UNSEEN:
                found = self._judge_cell(name, conversion, cells[index])
                if len(memo) < MEMO_SIZE:
                    memo[cells[index]] = found
            if found is _SKIP:  # the empty cell, remembered from the start
                found = (_SKIP, self._absent[name].messages, None)
            value, messages, note = found
            if messages:
                errors = [FieldError(message, (name,)) for message in messages]
                problems.setdefault(index, []).append((order, errors))
            if note is not None:
                notes.setdefault(index, []).append((name, note))
            values[index] = value
        return values

    def _records(self, columns: list[list[Any]], count: int) -> list[dict[str, Any]]:
        """Return each row's fields with a value (_SKIP: none), from the block's columns."""
        skip = _SKIP
        full_names, full, some_names, some = [], [], [], []
        for (name, *_), values in zip(self._plan, columns, strict=True):
            if name is None:
                continue
            if skip not in values:  # a value in every row: zipped at once below
                full_names.append(name)
                full.append(values)
            elif values.count(skip) < count:  # columns with no value at all are left out
                some_names.append(name)
                some.append(values)
        if full:  # one dict per row, built in C (the columns all have the block's length)
            rows = zip(*full, strict=True)
            records = list(map(dict, map(zip, repeat(full_names), rows)))
        else:
            records = [{} for _ in range(count)]
        for name, values in zip(some_names, some, strict=True):
            for record, value in zip(records, values, strict=True):
                if value is not skip:
                    record[name] = value
        return records

    def erp_id(self, cells: Sequence[str]) -> str | None:
        """Return the row's ``id_erp_apprenant`` as given (stripped), for the report."""
        index = self._erp
        if index is None or index >= len(cells) or is_blank(cells[index]):
            return None
        return trim(cells[index])


def judge_values(values: Mapping[str, Any]) -> Judgement:
    """Return :func:`judge` of the :func:`payload` of a row of values, its output being the
    payload (what is sent)."""
    sent = payload(values)
    judged = judge(sent)
    return Judgement(sent, judged.errors, judged.notes)


# Fields every valid record has: the report refers to rows by them.
assert "id_erp_apprenant" in REQUIRED_FIELDS

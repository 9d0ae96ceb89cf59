"""The export readers: CSV (as French offices produce it), XLSX (TDBA template), JSON.

Each reader streams ``SourceRow``s (a source line number and the raw values, keyed by TDBA
field name) without loading the file whole. Cell values are converted the way TDBA's import
does: ``JJ/MM/AAAA`` and Excel serial dates to ``AAAA-MM-JJ``, ``VRAI/FAUX``, ``OUI/NON`` and
``1/0`` to booleans, empty cells to absent.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from tdba_wizard.errors import TdbaError
from tdba_wizard.records.dossier import DATE_FIELDS
from tdba_wizard.records.rows import is_blank

BOOLEAN_FIELDS = frozenset(
    {"rqth_apprenant", "obtention_diplome_formation", "formation_presentielle"}
)
_TRUE = frozenset({"vrai", "oui", "1", "true", "o", "y", "yes"})
_FALSE = frozenset({"faux", "non", "0", "false", "n", "no"})
_FR_DATE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})\s*$")
_SERIAL = re.compile(r"^\s*\d{1,5}(\.0+)?\s*$")
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_CHUNK = 1 << 16
_FIELD_LIMIT = csv.field_size_limit()  # the csv module refuses longer cells


class SourceError(TdbaError):
    """An export file cannot be read."""

    title = "Export illisible"


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One record of an export: where it is, and its values by TDBA field name."""

    line: int
    values: dict[str, Any]


def normalise_header(name: str) -> str:
    """Return a column name as a TDBA field name (``*`` marks and case removed)."""
    return name.replace("*", "").strip().strip("\ufeff").lower()


def convert_date(value: Any) -> Any:
    """Return ``AAAA-MM-JJ`` for French dates and Excel serial numbers; other values as they are."""
    if isinstance(value, str) and len(value) == 10 and value[2] == "/" and value[5] == "/":
        # Fast path for the common JJ/MM/AAAA; the validator checks that the date exists.
        return f"{value[6:10]}-{value[3:5]}-{value[0:2]}"
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (_EXCEL_EPOCH + dt.timedelta(days=int(value))).isoformat()
    if isinstance(value, str):
        match = _FR_DATE.match(value)
        if match:
            day, month, year = int(match[1]), int(match[2]), match[3]
            full_year = int(year) if len(year) == 4 else 2000 + int(year)
            if len(year) == 2 and int(year) > 40:
                full_year = 1900 + int(year)
            try:
                return dt.date(full_year, month, day).isoformat()
            except ValueError:
                return value  # left for the validator to refuse with TDBA's message
        if _SERIAL.match(value):
            return (_EXCEL_EPOCH + dt.timedelta(days=int(float(value)))).isoformat()
    return value


def convert_boolean(value: Any) -> Any:
    """Return a bool for VRAI/FAUX, OUI/NON, 1/0; other values as they are."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return value


def convert_row(raw: dict[str, Any]) -> dict[str, Any]:
    """Apply the cell conversions of TDBA's import to one row; empty cells become absent."""
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if value is None or (isinstance(value, str) and is_blank(value)):
            continue
        if name in DATE_FIELDS:
            value = convert_date(value)
        elif name in BOOLEAN_FIELDS:
            value = convert_boolean(value)
        elif isinstance(value, float) and value.is_integer():
            value = int(value)  # Excel stores 3 as 3.0
        values[name] = value
    return values


# -- CSV ---------------------------------------------------------------------------------


def detect_encoding(path: Path) -> str:
    """Return ``utf-8-sig`` (with or without BOM) when the file is valid UTF-8, else cp1252."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8-sig"


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (";", ",", "\t")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ";"


def cell_converter(name: str) -> Callable[[Any], Any] | None:
    """Return the conversion TDBA's import applies to the cells of a column (None: none)."""
    if name in DATE_FIELDS:
        return convert_date
    if name in BOOLEAN_FIELDS:
        return convert_boolean
    return None


def read_csv_cells(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """Open a CSV export: its column names (TDBA field names) and its (line, cells) rows.

    ``;`` or ``,`` separated, UTF-8 (BOM or not) or Windows-1252. Cells are as in the file.
    """
    encoding = detect_encoding(path)
    handle = path.open("r", encoding=encoding, newline="")
    try:
        first = handle.readline()
        if not first.strip():
            raise SourceError(f"{path} : fichier vide ou sans ligne d'en-tête.")
        delimiter = _sniff_delimiter(first)
        header = [normalise_header(n) for n in next(csv.reader([first], delimiter=delimiter))]
    except BaseException:
        handle.close()
        raise
    return header, _csv_rows(handle, delimiter, path)


def _csv_rows(handle: TextIO, delimiter: str, path: Path) -> Iterator[tuple[int, list[str]]]:
    """Yield (first line, cells) of each record after the header, as :mod:`csv` reads them.

    Most lines hold no quote: such a line is one record, split on the delimiter (several
    times faster than the csv module). A line with a quote, or too long, is read by the csv
    module, which takes the next lines too when a quoted cell spans them.
    """
    with handle:
        lines = iter(handle)  # newline="": each line keeps its one \n, \r or \r\n
        line = 1
        for text in lines:
            line += 1
            if '"' not in text and len(text) < _FIELD_LIMIT:
                body = text.rstrip("\r\n")
                yield line, body.split(delimiter) if body else []
                continue
            reader = csv.reader(itertools.chain((text,), lines), delimiter=delimiter)
            try:
                cells = next(reader)
            except csv.Error as error:  # e.g. a cell of over 128 kB
                raise SourceError(f"{path} : ligne {line} illisible ({error}).") from None
            yield line, cells
            line += reader.line_num - 1


def read_csv(path: Path) -> Iterator[SourceRow]:
    """Stream the rows of a CSV export as values by field name, cells converted."""
    header, rows = read_csv_cells(path)
    converters = [
        (name, convert) for name in dict.fromkeys(header) if (convert := cell_converter(name))
    ]
    for start, cells in rows:
        # An empty (or blank) cell is an absent value.
        values = {n: c for n, c in zip(header, cells, strict=False) if c and not is_blank(c)}
        if not values:
            continue
        for name, convert in converters:
            if name in values:
                values[name] = convert(values[name])
        yield SourceRow(start, values)


# -- XLSX --------------------------------------------------------------------------------


def read_xlsx(path: Path) -> Iterator[SourceRow]:
    """Stream the first sheet of an XLSX in the TDBA template layout (header on row 1)."""
    try:
        import openpyxl
    except ImportError:  # pragma: no cover - a declared dependency
        raise SourceError("La lecture des fichiers XLSX demande openpyxl.") from None
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a damaged file
        raise SourceError(f"{path} : classeur XLSX illisible ({type(error).__name__}).") from None
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header_cells = next(rows, None)
        if header_cells is None:
            raise SourceError(f"{path} : la première feuille est vide.")
        header = [normalise_header(str(c)) if c is not None else "" for c in header_cells]
        for number, cells in enumerate(rows, start=2):
            if not any(c is not None and str(c).strip() for c in cells):
                continue
            raw = {name: value for name, value in zip(header, cells, strict=False) if name}
            yield SourceRow(number, convert_row(raw))
    finally:
        workbook.close()


# -- JSON --------------------------------------------------------------------------------


def read_json(path: Path) -> Iterator[SourceRow]:
    """Stream the objects of a JSON array; ``line`` is the line where each object starts."""
    decoder = json.JSONDecoder()
    with path.open("r", encoding="utf-8-sig") as handle:
        buffer = handle.read(_CHUNK)
        position, line = 0, 1
        eof = False

        def skip(chars: str) -> None:
            nonlocal position, line
            while position < len(buffer) and buffer[position] in chars:
                if buffer[position] == "\n":
                    line += 1
                position += 1

        skip(" \t\r\n")
        if buffer[position : position + 1] != "[":
            raise SourceError(f"{path} : un tableau JSON de dossiers est attendu ([ ... ]).")
        position += 1
        while True:
            skip(" \t\r\n,")
            if position >= len(buffer) - _CHUNK // 2 and not eof:
                more = handle.read(_CHUNK)
                eof = not more
                buffer = buffer[position:] + more
                position = 0
                continue
            if buffer[position : position + 1] == "]":
                return
            if position >= len(buffer):
                raise SourceError(f"{path} : tableau JSON non terminé (ligne {line}).")
            try:
                item, end = decoder.raw_decode(buffer, position)
            except ValueError:
                if eof:
                    raise SourceError(f"{path} : JSON invalide vers la ligne {line}.") from None
                more = handle.read(_CHUNK)
                eof = not more
                buffer = buffer[position:] + more
                position = 0
                continue
            start = line
            line += buffer.count("\n", position, end)
            position = end
            values = item if isinstance(item, dict) else {"__not_an_object__": item}
            yield SourceRow(start, {k: v for k, v in values.items() if v is not None})


def reader_for(path: Path) -> Callable[[Path], Iterator[SourceRow]]:
    """Return the reader of an export, chosen from its extension (checks that it exists)."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise SourceError(
            f"Export introuvable : {path}. Vérifiez le chemin « source » de l'établissement et "
            "que l'ERP a bien produit son export."
        )
    if suffix in (".xlsx", ".xlsm"):
        return read_xlsx
    if suffix == ".json":
        return read_json
    if suffix in (".csv", ".txt", ""):
        return read_csv
    raise SourceError(f"{path} : format non pris en charge (CSV, XLSX ou JSON attendu).")


def read_source(path: Path) -> Iterator[SourceRow]:
    """Stream an export, choosing the reader from the file extension."""
    return reader_for(path)(path)

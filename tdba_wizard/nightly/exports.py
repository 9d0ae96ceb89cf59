"""The export readers: CSV (as French offices produce it), XLSX (TDBA template), JSON.

Each reader streams ``SourceRow``s (a source line number and the raw values, keyed by TDBA
field name) without loading the file whole. Cell values are converted the way TDBA's import
does: ``JJ/MM/AAAA`` and Excel serial dates to ``AAAA-MM-JJ``, ``VRAI/FAUX``, ``OUI/NON`` and
``1/0`` to booleans, empty cells to absent.

Nothing is lost without a word: what a reader cannot take (a record whose quote is not
closed, a line in no known encoding, more values than columns) goes into :class:`Findings`
with its line, and so do the problems of the header (a column TDBA does not know, with the
nearest field; a required column missing), said once. A header with the same TDBA column twice
is refused: which one to send cannot be guessed.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import difflib
import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tdba_wizard.errors import TdbaError
from tdba_wizard.records.dossier import DATA_FIELDS, DATE_FIELDS, REQUIRED_FIELDS, SERVER_FIELDS
from tdba_wizard.records.rows import is_blank
from tdba_wizard.text import clean

BOOLEAN_FIELDS = frozenset(
    {"rqth_apprenant", "obtention_diplome_formation", "formation_presentielle"}
)
_TRUE = frozenset({"vrai", "oui", "1", "true", "o", "y", "yes"})
_FALSE = frozenset({"faux", "non", "0", "false", "n", "no"})
_FR_DATE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})\s*$")
_SERIAL = re.compile(r"^\s*\d{1,5}(\.0+)?\s*$")
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_CHUNK = 1 << 16
CELL_LIMIT = 8 * 1024 * 1024  # a longer cell could not be sent in a batch anyway
csv.field_size_limit(CELL_LIMIT)
_FIELD_LIMIT = CELL_LIMIT
_KNOWN = frozenset(DATA_FIELDS) | frozenset(SERVER_FIELDS)
SHOWN = 12  # unknown columns or lines named one by one, at most


class SourceError(TdbaError):
    """An export file cannot be read."""

    title = "Export illisible"


@dataclass
class Findings:
    """What a reader found besides the rows: rows it could not take (line, reason, ERP id),
    problems of the header, lines in another encoding, keys TDBA does not know."""

    rejected: list[tuple[int, str, str | None]] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    missing: frozenset[str] = frozenset()
    """Required TDBA columns the header lacks (said once in ``header``)."""
    recoded: list[int] = field(default_factory=list)
    """Lines read as Windows-1252 (not valid UTF-8)."""
    utf8_lines: int = 0
    """Lines with non-ASCII characters read as UTF-8."""
    undecodable: set[int] = field(default_factory=set)
    unknown: dict[str, int] = field(default_factory=dict)
    """JSON keys TDBA does not know, and in how many records."""

    def reject(self, line: int, reason: str, erp_id: str | None = None) -> None:
        self.rejected.append((line, reason, erp_id))

    def finish(self) -> None:
        """Say once what concerns the whole file (mixed encodings, unknown JSON keys)."""
        if self.recoded and self.utf8_lines:
            lines = ", ".join(str(n) for n in self.recoded[:SHOWN])
            more = " …" if len(self.recoded) > SHOWN else ""
            self.header.append(
                f"Encodage mélangé : {len(self.recoded)} ligne(s) ne sont pas en UTF-8 comme le "
                f"reste du fichier (l. {lines}{more}) ; elles ont été lues en Windows-1252 : "
                "vérifiez leurs accents, et faites produire l'export en UTF-8."
            )
        for name, count in sorted(self.unknown.items(), key=lambda item: -item[1])[:SHOWN]:
            self.header.append(
                f"Champ inconnu de TDBA, non envoyé : « {clean(name, 60)} » ({count} dossier(s))"
                + _suggestion(name)
            )
        if len(self.unknown) > SHOWN:
            self.header.append(f"… et {len(self.unknown) - SHOWN} autres champs inconnus.")


def nearest_field(name: str) -> str | None:
    """Return the TDBA field a misspelled column most likely meant, or None."""
    close = difflib.get_close_matches(name, DATA_FIELDS, n=1, cutoff=0.75)
    if close:
        return close[0]
    containing = [f for f in DATA_FIELDS if len(name) >= 3 and (name in f or f in name)]
    if containing:
        return max(containing, key=lambda f: difflib.SequenceMatcher(None, name, f).ratio())
    close = difflib.get_close_matches(name, DATA_FIELDS, n=1, cutoff=0.6)
    return close[0] if close else None


def _suggestion(name: str) -> str:
    nearest = nearest_field(name)
    return f" : vouliez-vous dire « {nearest} » ?" if nearest else "."


def check_header(header: list[str], path: Path, findings: Findings) -> None:
    """Refuse a header with a TDBA column twice; note unknown and missing columns, once."""
    positions: dict[str, list[int]] = {}
    for position, name in enumerate(header, start=1):
        if name:
            positions.setdefault(name, []).append(position)
    doubled = {n: p for n, p in positions.items() if n in _KNOWN and len(p) > 1}
    if doubled:
        listed = " ; ".join(
            f"« {n} » (colonnes {', '.join(map(str, p))})" for n, p in doubled.items()
        )
        raise SourceError(
            f"{path} : colonnes en double dans l'en-tête : {listed}. Impossible de savoir "
            "laquelle envoyer : rien n'est envoyé pour cet export ; corrigez-le dans l'ERP."
        )
    unknown = [n for n in positions if n not in _KNOWN]
    for name in unknown[:SHOWN]:
        findings.header.append(
            f"Colonne inconnue de TDBA, ignorée : « {clean(name, 60)} » (colonne "
            f"{positions[name][0]})" + _suggestion(name)
        )
    if len(unknown) > SHOWN:
        findings.header.append(f"… et {len(unknown) - SHOWN} autres colonnes inconnues.")
    missing = [n for n in REQUIRED_FIELDS if n not in positions]
    if missing:
        findings.missing = frozenset(missing)
        findings.header.append(
            f"Colonne(s) obligatoire(s) absente(s) de l'en-tête : {', '.join(missing)} : toutes "
            "les lignes sont refusées pour cette raison."
        )


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


_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_LONE_CR = re.compile(r"(\r(?!\n))")


def text_lines(path: Path, findings: Findings) -> Iterator[str]:
    """Yield the lines of a text export, each with its line ending, decoded.

    UTF-16 and UTF-32 are read when the file starts with their BOM, and refused without it
    (NUL bytes). Otherwise each line is UTF-8 if it can be, else Windows-1252 (noted in
    ``findings``: a file all in Windows-1252 is usual, a mix is not); a line in neither is
    noted as undecodable, and the record holding it is refused, never sent garbled.
    """
    with path.open("rb") as handle:
        start = handle.read(4)
        for bom, encoding in _WIDE_BOMS:
            if start.startswith(bom):
                yield from _wide_lines(path, encoding)
                return
        if b"\x00" in start + handle.read(_CHUNK):
            raise SourceError(
                f"{path} : le fichier contient des octets nuls : c'est un fichier binaire, ou du "
                "texte UTF-16 sans marque d'ordre (BOM). Faites produire l'export en CSV UTF-8."
            )
        handle.seek(0)
        number = 0
        for raw in handle:
            if number == 0:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            try:
                text = raw.decode("utf-8")
                recoded = False
            except UnicodeDecodeError:
                try:
                    text = raw.decode("cp1252")
                    recoded = True
                except UnicodeDecodeError:  # in neither: its record is refused, not garbled
                    text = raw.decode("cp1252", errors="replace")
                    findings.undecodable.add(number + 1)
                    recoded = False
            pieces = _LONE_CR.split(text) if "\r" in text and _LONE_CR.search(text) else [text]
            if len(pieces) > 1:  # old Mac line endings (a lone \r)
                pieces = ["".join(pieces[i : i + 2]) for i in range(0, len(pieces), 2)]
            for piece in pieces:
                if not piece:
                    continue
                number += 1
                if recoded:
                    findings.recoded.append(number)
                elif not piece.isascii():
                    findings.utf8_lines += 1
                yield piece


def _wide_lines(path: Path, encoding: str) -> Iterator[str]:
    number = 0
    try:
        with path.open("r", encoding=encoding, newline="") as handle:
            for number, line in enumerate(handle, start=1):
                yield line.removeprefix("\ufeff") if number == 1 else line
    except UnicodeDecodeError:
        raise SourceError(
            f"{path} : texte {encoding.upper()} invalide vers la ligne {number + 1} : "
            "faites produire l'export en CSV UTF-8."
        ) from None


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


def read_csv_cells(
    path: Path, findings: Findings | None = None
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """Open a CSV export: its column names (TDBA field names) and its (line, cells) rows.

    ``;`` or ``,`` separated; UTF-8 (BOM or not), Windows-1252, or UTF-16/32 with a BOM. Cells
    are as in the file. The header is checked (:func:`check_header`); the records a CSV
    reader could not take are in ``findings``, never in the rows.
    """
    findings = findings if findings is not None else Findings()
    lines = text_lines(path, findings)
    first = next(lines, "")
    if not first.strip():
        raise SourceError(f"{path} : fichier vide ou sans ligne d'en-tête.")
    delimiter = _sniff_delimiter(first)
    header = [normalise_header(n) for n in next(csv.reader([first], delimiter=delimiter))]
    check_header(header, path, findings)
    return header, _csv_rows(lines, delimiter, header, findings)


def _csv_rows(
    lines: Iterator[str], delimiter: str, header: list[str], findings: Findings
) -> Iterator[tuple[int, list[str]]]:
    """Yield (first line, cells) of each record after the header, as :mod:`csv` reads them.

    Most lines hold no quote: such a line is one record, split on the delimiter (several
    times faster than the csv module). A line with a quote, or too long, is read by the csv
    module, which takes the next lines too when a quoted cell spans them. A record the file
    does not delimit clearly is refused with its lines: more values than columns, or a
    quoted cell spanning lines that hides whole records (a quote not closed).
    """
    width = len(header)
    erp = header.index("id_erp_apprenant") if "id_erp_apprenant" in header else None
    line = 1
    for text in lines:
        line += 1
        start = line
        if '"' not in text and len(text) < _FIELD_LIMIT:
            body = text.rstrip("\r\n")
            cells = body.split(delimiter) if body else []
        else:
            reader = csv.reader(itertools.chain((text,), lines), delimiter=delimiter)
            try:
                cells = next(reader)
            except csv.Error as error:
                line += max(reader.line_num - 1, 0)
                findings.reject(start, f"ligne illisible pour un lecteur CSV ({error})")
                continue
            line += reader.line_num - 1
        if findings.undecodable and any(n in findings.undecodable for n in range(start, line + 1)):
            findings.reject(start, "caractères illisibles (ni UTF-8 ni Windows-1252)",
                            _erp(cells, erp))  # fmt: skip
            continue
        problem = _shape_problem(cells, width, delimiter, start, line)
        if problem is not None:
            findings.reject(start, problem, _erp(cells, erp))
            continue
        yield start, cells if len(cells) <= width else cells[:width]


def _erp(cells: list[str], index: int | None) -> str | None:
    if index is None or index >= len(cells) or is_blank(cells[index]):
        return None
    return clean(cells[index].strip(), 60)


def _shape_problem(
    cells: list[str], width: int, delimiter: str, start: int, end: int
) -> str | None:
    """Return why a record's cells do not fit the header, or None when they do."""
    count = len(cells)
    if count > width and any(not is_blank(cell) for cell in cells[width:]):
        return (
            f"{count} valeurs pour {width} colonnes (un « {delimiter} » dans une valeur non "
            "entourée de guillemets ?)"
        )
    if end > start:
        hidden = any(
            part.count(delimiter) >= max(2, width // 2)
            for cell in cells
            if "\n" in cell
            for part in cell.split("\n")[1:]
        )
        if count < width or hidden:
            return (
                f"guillemet non fermé : les lignes {start} à {end} forment un seul "
                f"enregistrement ({count} valeurs pour {width} colonnes) ; ces lignes ne sont "
                "pas envoyées"
            )
    return None


def read_csv(path: Path, findings: Findings | None = None) -> Iterator[SourceRow]:
    """Stream the rows of a CSV export as values by field name, cells converted."""
    header, rows = read_csv_cells(path, findings)
    return rows_of_cells(header, rows)


def rows_of_cells(header: list[str], rows: Iterator[tuple[int, list[str]]]) -> Iterator[SourceRow]:
    """Return CSV rows as values by field name, cells converted (blank cells are absent)."""
    converters = [
        (name, convert) for name in dict.fromkeys(header) if (convert := cell_converter(name))
    ]
    for start, cells in rows:
        # An empty (or blank) cell is an absent value.
        values = {n: c for n, c in zip(header, cells, strict=False) if n and c and not is_blank(c)}
        if not values:
            continue
        for name, convert in converters:
            if name in values:
                values[name] = convert(values[name])
        yield SourceRow(start, values)


# -- XLSX --------------------------------------------------------------------------------


def read_xlsx(path: Path, findings: Findings | None = None) -> Iterator[SourceRow]:
    """Stream the first sheet of an XLSX in the TDBA template layout (header on row 1).

    Reading is bounded by the cells that hold data, never by the sheet's declared size (a
    5 kB file may declare 16,384 columns by 1,048,576 rows).
    """
    findings = findings if findings is not None else Findings()
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
        sheet.reset_dimensions()  # what the file declares is not trusted
        header_cells = next(sheet.iter_rows(min_row=1, max_row=1, values_only=True), None)
        names = [normalise_header(str(c)) if c is not None else "" for c in header_cells or ()]
        while names and not names[-1]:
            names.pop()
        if not names:
            raise SourceError(f"{path} : la première ligne de la première feuille est vide.")
        check_header(names, path, findings)
        rows = sheet.iter_rows(min_row=2, max_col=len(names), values_only=True)
        for number, cells in enumerate(rows, start=2):
            if not any(c is not None and str(c).strip() for c in cells):
                continue
            raw = {name: value for name, value in zip(names, cells, strict=False) if name}
            yield SourceRow(number, convert_row(raw))
    except SourceError:
        raise
    except Exception as error:  # a sheet damaged further on
        raise SourceError(f"{path} : classeur XLSX illisible ({type(error).__name__}).") from None
    finally:
        workbook.close()


# -- JSON --------------------------------------------------------------------------------


def read_json(path: Path, findings: Findings | None = None) -> Iterator[SourceRow]:
    """Stream the objects of a JSON array; ``line`` is the line where each object starts.

    Keys TDBA does not know are not sent; ``findings`` counts them, to say so once.
    """
    findings = findings if findings is not None else Findings()
    unknown = findings.unknown
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
            for key in values:
                if key not in _KNOWN and key != "__not_an_object__":
                    unknown[key] = unknown.get(key, 0) + 1
            yield SourceRow(start, {k: v for k, v in values.items() if v is not None})


def reader_for(path: Path) -> Callable[[Path, Findings | None], Iterator[SourceRow]]:
    """Return the reader of an export, chosen from its extension (checks that it exists)."""
    suffix = path.suffix.lower()
    if path.exists() and not path.is_file():  # a directory, a FIFO (it would block), a device
        raise SourceError(f"{path} n'est pas un fichier ordinaire : indiquez l'export de l'ERP.")
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


def read_source(path: Path, findings: Findings | None = None) -> Iterator[SourceRow]:
    """Stream an export, choosing the reader from the file extension."""
    return reader_for(path)(path, findings)

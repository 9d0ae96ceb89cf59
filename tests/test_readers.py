"""Export readers: the formats French offices and the TDBA template produce."""

from __future__ import annotations

import csv
import datetime as dt
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tdba_wizard.nightly.exports import (
    Findings,
    SourceError,
    cell_converter,
    convert_date,
    read_csv_cells,
    read_source,
)
from tdba_wizard.records.compiled import unchanged_cells
from tdba_wizard.records.rows import RowValidator, judge_values

HEADER = (
    "nom_apprenant *;prenom_apprenant *;date_de_naissance_apprenant *;annee_scolaire *;"
    "id_erp_apprenant;date_inscription_formation *;date_entree_formation *;"
    "date_fin_formation *;etablissement_responsable_uai *;etablissement_responsable_siret *;"
    "etablissement_formateur_uai *;etablissement_formateur_siret *;rqth_apprenant;"
    "adresse_apprenant *"
)
ROW = (
    "Lefèvre;Zoé;12/04/2005;2025-2026;A1;01/07/2025;01/09/2025;30/06/2027;0802004U;"
    "484 012 464 00091;0802004U;48401246400091;OUI;3 rue de l'Église"
)


def check_first_row(path: Path) -> None:
    [row] = list(read_source(path))
    assert row.line == 2
    values = row.values
    assert values["nom_apprenant"] == "Lefèvre" and values["prenom_apprenant"] == "Zoé"
    assert values["date_de_naissance_apprenant"] == "2005-04-12"
    assert values["rqth_apprenant"] is True
    assert values["adresse_apprenant"] == "3 rue de l'Église"
    judged = judge_values(values)
    assert judged.errors == []
    # Sent as given: TDBA removes the separators itself.
    assert judged.output["etablissement_responsable_siret"] == "484 012 464 00091"


def test_csv_windows_1252_semicolon(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(f"{HEADER}\r\n{ROW}\r\n".encode("cp1252"))
    check_first_row(path)


def test_csv_utf8_bom_comma(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    text = f"{HEADER}\n{ROW}\n".replace(";", ",").replace(
        "3 rue de l'Église", '"3, rue de l\'Église"'
    )
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    [row] = list(read_source(path))
    assert row.values["adresse_apprenant"] == "3, rue de l'Église"
    assert "nom_apprenant" in row.values  # the BOM is not part of the first header


def test_csv_line_numbers_skip_blank_lines_and_count_multiline_cells(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    multiline = ROW.replace("3 rue de l'Église", '"3 rue\nde l\'Église"')
    path.write_text(f"{HEADER}\n{multiline}\n\n{ROW.replace('A1', 'A2')}\n", encoding="utf-8")
    assert [(r.line, r.values["id_erp_apprenant"]) for r in read_source(path)] == [
        (2, "A1"),
        (5, "A2"),
    ]


@given(st.text(alphabet='ab;,"é\r\n\x00 ', max_size=60))
def test_csv_rows_are_what_the_csv_module_reads(text: str) -> None:
    # Lines without quotes are split directly: the rows must be the csv module's, lines too.
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.csv"
        path.write_text("nom_apprenant;prenom_apprenant\n" + text, encoding="utf-8", newline="")
        expected: list[tuple[int, list[str]]] = []
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=";")
            next(reader)
            line = 1
            try:
                for cells in reader:
                    expected.append((line + 1, cells))
                    line = reader.line_num
                failure = False
            except csv.Error:
                failure = True
        findings = Findings()
        try:
            got = list(read_csv_cells(path, findings)[1])
        except SourceError:
            assert failure or "\x00" in text  # NUL bytes: refused as a whole, with the reason
            return
    # Every record the csv module sees is either read as it reads it, or refused with its line
    # (its shape does not fit the header): none is dropped without a word.
    by_line = dict(expected)
    rejected = [line for line, _, _ in findings.rejected]
    assert sorted([line for line, _ in got] + rejected) == sorted(by_line)
    for line, cells in got:
        assert cells == by_line[line][: len(cells)]
        assert all(not c.strip() for c in by_line[line][len(cells) :])


def test_a_cell_too_long_is_reported_with_its_line(tmp_path: Path) -> None:
    from tdba_wizard.nightly.exports import CELL_LIMIT

    path = tmp_path / "export.csv"
    path.write_text(f'nom_apprenant;adresse_apprenant\nA;B\nC;"{"x" * (CELL_LIMIT + 1)}"\nD;E\n')
    findings = Findings()
    rows = list(read_csv_cells(path, findings)[1])
    assert rows == [(2, ["A", "B"]), (4, ["D", "E"])]
    [(line, reason, _)] = findings.rejected
    assert line == 3 and "illisible" in reason


def test_xlsx_template_layout(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Modèle"
    names = HEADER.split(";")
    sheet.append(names)
    values = ROW.split(";")
    values[2] = dt.datetime(2005, 4, 12)  # a real date cell
    values[5] = 45839  # an Excel serial date: 2025-07-01
    values[12] = "VRAI"
    sheet.append(values)
    workbook.create_sheet("Description des données").append(["Nom du champ", "Obligatoire"])
    path = tmp_path / "modele-import.xlsx"
    workbook.save(path)
    [row] = list(read_source(path))
    assert row.line == 2
    assert row.values["date_de_naissance_apprenant"] == "2005-04-12"
    assert row.values["date_inscription_formation"] == "2025-07-01"
    assert row.values["rqth_apprenant"] is True
    assert judge_values(row.values).errors == []


def test_json_array_streamed_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    items = [
        {"id_erp_apprenant": f"E{i}", "nom_apprenant": "x" * 50, "vide": None} for i in range(3000)
    ]
    path.write_text("[\n" + ",\n".join(json.dumps(i) for i in items) + "\n]\n", encoding="utf-8")
    rows = list(read_source(path))
    assert len(rows) == 3000
    assert rows[0].line == 2 and rows[2999].line == 3001
    assert rows[1234].values == {"id_erp_apprenant": "E1234", "nom_apprenant": "x" * 50}


@pytest.mark.parametrize(
    ("content", "message"),
    [('{"a": 1}', "tableau JSON"), ('[{"a": 1}, {"b":', "JSON invalide")],
)
def test_bad_json(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "export.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SourceError, match=message):
        list(read_source(path))


def test_missing_and_unknown_formats(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="Export introuvable"):
        read_source(tmp_path / "absent.csv")
    (tmp_path / "export.pdf").write_bytes(b"%PDF")
    with pytest.raises(SourceError, match="non pris en charge"):
        read_source(tmp_path / "export.pdf")


@given(st.dates(min_value=dt.date(1941, 1, 1), max_value=dt.date(2040, 12, 31)))
def test_date_conversions(day: dt.date) -> None:
    iso = day.isoformat()
    assert convert_date(f"{day:%d/%m/%Y}") == iso
    assert convert_date(f"{day.day}/{day.month}/{day:%y}") == iso
    assert convert_date((day - dt.date(1899, 12, 30)).days) == iso
    assert convert_date(iso) == iso


# The nightly job validates CSV rows as cells (RowValidator), not as dicts: both must agree.
CELLS = {
    "nom_apprenant": ["Martin", " Dupont ", "", "   ", "é"],
    "prenom_apprenant": ["Léa", "", " ", "Jean-Éudes"],
    "date_de_naissance_apprenant": [
        "12/04/2005",
        "2005-04-12",
        "31/02/2005",
        "",
        "1/2/05",
        "45123",
    ],
    "annee_scolaire": ["2025-2026", "2025/2026", "2025-2027", ""],
    "id_erp_apprenant": ["A1", " A2 ", "", "7"],
    "date_inscription_formation": ["01/07/2025", "x", ""],
    "date_entree_formation": ["01/09/2025", "2025-09-01T08:00:00Z", ""],
    "date_fin_formation": ["30/06/2027", "30/06/27", ""],
    "etablissement_responsable_uai": ["0802004U", "0802004u", "0802004", ""],
    "etablissement_responsable_siret": ["48401246400091", "484 012 464 00091", "123", ""],
    "etablissement_formateur_uai": ["0802004U", ""],
    "etablissement_formateur_siret": ["48401246400091", "4840124640009"],
    "rqth_apprenant": ["OUI", "non", "VRAI", "peut-être", ""],
    "tel_apprenant": ["0612345678", "06 12 34 56 78", "+33612345678", "12", ""],
    "email_contact": ["a@b.fr", "léa@école.fr", " a@b.fr", "pas un mail", ""],
    "formation_rncp": ["RNCP34567", "rncp 34567", "34567", ""],
    "code_postal_apprenant": ["75011", "7501", " 75011", ""],
    "duree_theorique_formation": ["2", "9", "x", ""],
    "duree_theorique_formation_mois": ["24", "60", ""],
    "statut_apprenant": ["3", "1", ""],
    "nir_apprenant": ["1 85 05 78 006 084 36", " ", ""],
    "siret_employeur_2": ["77937827200016", "abc", ""],
    "colonne_inconnue": ["quelque chose", ""],
}


@given(
    st.lists(st.sampled_from(sorted(CELLS)), min_size=1, max_size=len(CELLS), unique=True).flatmap(
        lambda header: st.tuples(
            st.just(header),
            st.lists(
                st.tuples(*(st.sampled_from(CELLS[name]) for name in header)),
                min_size=1,
                max_size=8,
            ),
        )
    )
)
def test_cells_are_validated_as_the_rows_read(
    table: tuple[list[str], list[tuple[str, ...]]],
) -> None:
    header, rows = table
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter=";")
            writer.writerow(header)
            writer.writerows(rows)
        as_dicts = [(row.line, judge_values(row.values)) for row in read_source(path)]
        names, cells = read_csv_cells(path)
        read = list(cells)
    lines, cell_rows = [line for line, _ in read], [row for _, row in read]
    # Row by row, and as one block with the columns taken as they are when they can be.
    one, block = (
        RowValidator(names, cell_converter),
        RowValidator(names, cell_converter, unchanged_cells),
    )
    pairs = RowValidator(names, cell_converter, unchanged_cells)  # blocks of two in turn
    by_pairs = [c for i in range(0, len(cell_rows), 2) for c in pairs.each(cell_rows[i : i + 2])]
    for checked in (
        [one.validate(row) for row in cell_rows],
        block.each(cell_rows),
        by_pairs,
    ):
        as_cells = [(line, c) for line, c in zip(lines, checked, strict=True) if c is not None]
        assert as_cells == as_dicts


def test_erp_id_of_a_refused_row() -> None:
    validator = RowValidator(["id_erp_apprenant", "nom_apprenant"], cell_converter)
    assert validator.erp_id([" E7 ", ""]) == "E7"
    assert validator.erp_id(["", "X"]) is None
    assert RowValidator(["nom_apprenant"], cell_converter).erp_id(["X"]) is None
    with pytest.raises(ValueError, match="duplicate"):
        RowValidator(["nom_apprenant", "nom_apprenant"], cell_converter)

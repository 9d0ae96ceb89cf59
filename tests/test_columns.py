"""The README's table of the export's columns is generated from the validator's own rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tdba_wizard.nightly.exports import cell_converter
from tdba_wizard.records.columns import describe, markdown_table
from tdba_wizard.records.dossier import DATA_FIELDS, FIELDS, REQUIRED_FIELDS

README = Path(__file__).parents[1] / "README.md"


@pytest.mark.parametrize("name", DATA_FIELDS)
def test_each_column_is_described_and_its_example_accepted(name: str) -> None:
    forms, example = describe(name)
    assert forms and example
    convert = cell_converter(name)
    judged = FIELDS[name].rule(convert(example) if convert is not None else example)
    assert judged.messages == ()


def test_the_readme_table_is_the_generated_one() -> None:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- columns -->\n(.*?)<!-- /columns -->", text, re.S)
    assert found is not None, "README.md : tableau des colonnes introuvable"
    assert found[1] == markdown_table(), (
        "README.md : le tableau des colonnes n'est plus celui des règles ; remplacez-le par "
        "la sortie de « python -c 'from tdba_wizard.records.columns import markdown_table; "
        'print(markdown_table(), end="")\' »'
    )


def test_the_table_says_which_columns_are_required() -> None:
    rows = [line for line in markdown_table().splitlines() if line.startswith("| `")]
    assert len(rows) == len(DATA_FIELDS)
    required = [line.split("`")[1] for line in rows if "| **oui** |" in line]
    assert required == [name for name in DATA_FIELDS if name in REQUIRED_FIELDS]
    assert len(required) == 12

"""The home screen's table without the TUI: the columns that fit, the rows a filter keeps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tdba_wizard.config import Establishment
from tdba_wizard.tui.listing import (
    CELL_PADDING,
    NAME_MAX,
    NAME_MIN,
    SCROLLBAR,
    VITAL,
    home_columns,
    matches,
    shorten,
)

LYCEE = Establishment(name="Lycée Pro Jean-Moulin", uai="0802004U", siret="13002526500013")


def drawn(width: int) -> int:
    return sum(c.width + CELL_PADDING for c in home_columns(width)) + SCROLLBAR


@pytest.mark.parametrize("width", range(56, 301))
def test_the_columns_fit_and_the_vital_ones_are_always_there(width: int) -> None:
    columns = home_columns(width)
    assert drawn(width) <= width
    assert [c.key for c in columns if c.key in VITAL] == list(VITAL)
    [name] = [c for c in columns if c.key == "name"]
    assert NAME_MIN <= name.width <= NAME_MAX


def test_the_name_comes_before_the_optional_columns() -> None:
    assert [c.key for c in home_columns(60)] == ["name", "uai", "state", "last"]
    at_80 = home_columns(80)
    assert [c.key for c in at_80] == ["name", "uai", "state", "last"]
    assert at_80[0].width >= 36  # a long name whole, rather than a SIRET
    at_100 = home_columns(100)  # no room for the ERP: SENTITE, narrower, fits
    assert [c.key for c in at_100] == ["name", "uai", "siret", "sentite", "state", "last"]
    assert [c.key for c in home_columns(100, ["siret", "erp"])] == [
        "name", "uai", "siret", "state", "last"
    ]  # fmt: skip
    assert [c.key for c in home_columns(140)] == [
        "name", "uai", "siret", "erp", "sentite", "state", "last"
    ]  # fmt: skip


def test_a_narrow_terminal_keeps_the_smallest_name_column() -> None:
    assert home_columns(40)[0].width == NAME_MIN


@pytest.mark.parametrize(
    "query",
    ["", "lycée", "LYCEE pro", "jean-moulin", "0802", "0802004u", "130 025 265", "00013", "  "],
)
def test_the_filter_finds_name_uai_and_siret(query: str) -> None:
    assert matches(LYCEE, query)


@pytest.mark.parametrize("query", ["lycées", "0802005", "13002526500014", "Moulin Jean"])
def test_the_filter_leaves_out_what_does_not_match(query: str) -> None:
    assert not matches(LYCEE, query)


NAMES = st.text(
    st.characters(categories=["Lu", "Ll", "Nd"], max_codepoint=0x17F) | st.sampled_from(" -'"),
    min_size=1,
    max_size=40,
).filter(lambda text: text.strip(" -'"))


@given(NAMES, st.data())
def test_any_part_of_a_name_finds_it(name: str, data: st.DataObject) -> None:
    establishment = Establishment(name=name, uai="0802004U", siret="13002526500013")
    kept = establishment.name
    start = data.draw(st.integers(0, len(kept) - 1))
    part = kept[start : data.draw(st.integers(start + 1, len(kept)))]
    assert matches(establishment, part)
    assert matches(establishment, part.swapcase()) or not part.isascii()


@given(st.text(max_size=60), st.integers(1, 50))
def test_shorten_keeps_within_the_width(text: str, width: int) -> None:
    shown = shorten(text, width)
    assert len(shown) <= max(width, 1)
    assert shown == text or shown.endswith("…")

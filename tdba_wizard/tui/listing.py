"""The home screen's table without the TUI: which columns fit, which rows a filter keeps."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from tdba_wizard.config import Establishment

CELL_PADDING = 2
"""Each column takes its width plus one space on each side."""
SCROLLBAR = 2
NAME_MIN, NAME_MAX = 12, 40
NAME_FIRST = 30
"""The name keeps this many characters before an optional column takes room from it."""


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int


# In the order they are shown. The vital ones are always there; the others, in the order of
# OPTIONAL, when the terminal is wide enough.
_WIDTHS = {
    "uai": ("UAI", 8),
    "siret": ("SIRET", 14),
    "erp": ("ERP", 10),
    "sentite": ("SENTITE", 8),
    "state": ("État", 12),
    "last": ("Dernier envoi", 13),
}
ORDER = ("name", "uai", "siret", "erp", "sentite", "state", "last")
VITAL = ("name", "uai", "state", "last")
OPTIONAL = ("siret", "erp", "sentite")


def home_columns(width: int, optional: Sequence[str] = OPTIONAL) -> list[Column]:
    """The columns of a ``width``-wide terminal: name, UAI, state and last run always, then
    the ``optional`` ones (SIRET, ERP, SENTITE: those that say something for this network)
    that fit while the name keeps 30 characters; the name takes the rest (12 at least, 40 at
    most)."""
    room = width - SCROLLBAR

    def cost(keys: list[str]) -> int:
        return sum(_WIDTHS[k][1] + CELL_PADDING for k in keys if k != "name")

    chosen = [k for k in VITAL if k != "name"]
    for key in (k for k in OPTIONAL if k in optional):
        if cost([*chosen, key]) + NAME_FIRST + CELL_PADDING <= room:
            chosen.append(key)
    name = max(NAME_MIN, min(NAME_MAX, room - cost(chosen) - CELL_PADDING))
    return [
        Column("name", "Nom", name) if key == "name" else Column(key, *_WIDTHS[key])
        for key in ORDER
        if key == "name" or key in chosen
    ]


def _folded(text: str) -> str:
    """Lower case, without accents or spaces: « Lycée Pro » and « lycee pro » match."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c) and not c.isspace())


def matches(establishment: Establishment, query: str) -> bool:
    """True when the filter ``query`` is in the name, the UAI or the SIRET (accents, case and
    spaces aside: « 130 025 265 » finds its SIRET)."""
    wanted = _folded(query)
    if not wanted:
        return True
    return any(
        wanted in _folded(text)
        for text in (establishment.name, establishment.uai, establishment.siret)
    )


def shorten(text: str, width: int) -> str:
    """``text`` in ``width`` characters at most, cut with « … »."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"

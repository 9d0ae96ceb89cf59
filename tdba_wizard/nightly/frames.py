"""The frames the reading process writes to the job, typed on both sides.

Each frame is: 4 bytes (big-endian), the length of its header; the header, JSON, with
``kind``, ``rows`` (rows read so far) and ``size``; then ``size`` bytes of body. Kinds:

- ``read`` (:class:`Progress`): a block of rows was read, nothing to send yet;
- ``batch`` (:class:`BatchFrame`): a JSON array of ``count`` records to send (the body),
  ``refs`` the (line, ERP id) of each item;
- ``end`` (:class:`EndFrame`): the last frame: rows refused locally and why, values TDBA
  will change silently, rows it will not attach as expected, the header's problems, and why
  the export could not be read (or null).

A reading process that stops without an ``end`` frame has failed; the job says so.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import orjson

from tdba_wizard.text import clean
from tdba_wizard.wire import encode_json

FRAME_HEADER = struct.Struct(">I")
FIRST_LINES = 5  # rows kept as examples per reason
ERP_ID_SHOWN = 60  # characters of an id_erp_apprenant kept in a report


@dataclass
class ReasonGroup:
    """Rows that share a reason: how many, and the first of them (line, ERP id)."""

    count: int = 0
    first: list[tuple[int, str | None]] = field(default_factory=list)

    def add(self, line: int, erp_id: str | None) -> None:
        self.count += 1
        if len(self.first) < FIRST_LINES:
            self.first.append((line, None if erp_id is None else clean(erp_id, ERP_ID_SHOWN)))

    def as_header(self) -> dict[str, Any]:
        return {"count": self.count, "first": self.first}

    @classmethod
    def from_header(cls, data: dict[str, Any]) -> ReasonGroup:
        return cls(int(data["count"]), [(int(line), erp) for line, erp in data["first"]])


Groups = dict[str, ReasonGroup]


@dataclass(frozen=True)
class Progress:
    """Rows read so far, nothing to send yet."""

    rows: int


@dataclass(frozen=True)
class BatchFrame:
    """Records to send: the encoded JSON array and the (line, ERP id) of each item."""

    rows: int
    count: int
    refs: list[tuple[int, str | None]]
    body: bytes


@dataclass(frozen=True)
class EndFrame:
    """The export read to its end (or as far as it could be)."""

    rows: int
    rejected: int
    reasons: Groups
    notes: Groups
    error: str | None
    attention: Groups = field(default_factory=dict)
    header: list[str] = field(default_factory=list)
    pairs: list[dict[str, Any]] = field(default_factory=list)
    """Per (formateur, responsable) pair: its records and local processing issues."""
    duplicates: Groups = field(default_factory=dict)
    unpaired: int = 0


Frame = Progress | BatchFrame | EndFrame


def _groups(groups: Groups) -> dict[str, Any]:
    return {reason: group.as_header() for reason, group in groups.items()}


def write_frame(out: BinaryIO, frame: Frame) -> None:
    """Write one frame and flush it."""
    body = b""
    header: dict[str, Any]
    if isinstance(frame, Progress):
        header = {"kind": "read", "rows": frame.rows}
    elif isinstance(frame, BatchFrame):
        header = {"kind": "batch", "rows": frame.rows, "count": frame.count, "refs": frame.refs}
        body = frame.body
    else:
        header = {
            "kind": "end",
            "rows": frame.rows,
            "rejected": frame.rejected,
            "reasons": _groups(frame.reasons),
            "notes": _groups(frame.notes),
            "attention": _groups(frame.attention),
            "header": frame.header,
            "pairs": frame.pairs,
            "duplicates": _groups(frame.duplicates),
            "unpaired": frame.unpaired,
            "error": frame.error,
        }
    encoded = encode_json({**header, "size": len(body)})
    out.write(FRAME_HEADER.pack(len(encoded)))
    out.write(encoded)
    if body:
        out.write(body)
    out.flush()


def decode_header(data: bytes) -> dict[str, Any]:
    """Return a frame's header (raises ValueError when it is not a frame header)."""
    try:
        header = orjson.loads(data)
    except orjson.JSONDecodeError:  # e.g. a lone surrogate escaped in an ERP id: json takes it
        header = json.loads(data)
    if not isinstance(header, dict) or not isinstance(header.get("size"), int):
        raise ValueError("not a frame header")
    return header


def decode(header: dict[str, Any], body: bytes) -> Frame:
    """Return the frame of a header and its body (raises KeyError, TypeError, ValueError)."""
    kind, rows = header["kind"], int(header["rows"])
    if kind == "read":
        return Progress(rows)
    if kind == "batch":
        refs = [(int(line), erp) for line, erp in header["refs"]]
        return BatchFrame(rows, int(header["count"]), refs, body)
    if kind == "end":
        return EndFrame(
            rows,
            int(header["rejected"]),
            {k: ReasonGroup.from_header(v) for k, v in header["reasons"].items()},
            {k: ReasonGroup.from_header(v) for k, v in header.get("notes", {}).items()},
            header["error"],
            {k: ReasonGroup.from_header(v) for k, v in header.get("attention", {}).items()},
            [str(line) for line in header.get("header", [])],
            list(header.get("pairs", [])),
            {k: ReasonGroup.from_header(v) for k, v in header.get("duplicates", {}).items()},
            int(header.get("unpaired", 0)),
        )
    raise ValueError(f"unknown frame kind {kind!r}")

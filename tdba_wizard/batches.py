"""Records as TDBA takes them: JSON arrays of at most 2000 items, well under 10 MB.

Light on purpose (no HTTP client here): the process that reads an export imports it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

MAX_BATCH_ITEMS = 2000  # TDBA refuses larger arrays
MAX_BATCH_BYTES = 8 * 1024 * 1024  # well under TDBA's 10 MB


def encode_json(value: Any) -> bytes:
    """Return compact UTF-8 JSON, encoded by orjson (the nightly batches: 2000 records each)."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: a lone surrogate, an integer over 64 bits...
        return json.dumps(value, separators=(",", ":")).encode("ascii")


@dataclass
class Batch:
    """One request's worth of records, encoded, with the source reference of each item."""

    body: bytes
    count: int
    refs: list[tuple[int, str | None]]
    spool_file: Path | None = None


def encode_batches(
    records: list[dict[str, Any]],
    refs: list[tuple[int, str | None]],
    max_bytes: int = MAX_BATCH_BYTES,
) -> Iterator[Batch]:
    """Encode records as JSON arrays of at most ``max_bytes`` (halved when larger).

    Records are encoded a whole batch at a time (much cheaper than one by one); a batch that
    comes out too large, which takes records of over 4 kB each, is split in two.
    """
    body = encode_json(records)
    if len(body) <= max_bytes or len(records) == 1:
        yield Batch(body, len(records), refs)
        return
    half = len(records) // 2
    yield from encode_batches(records[:half], refs[:half], max_bytes)
    yield from encode_batches(records[half:], refs[half:], max_bytes)

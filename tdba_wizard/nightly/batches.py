"""Records as TDBA takes them: JSON arrays of at most 2000 items, well under 10 MB."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tdba_wizard.wire import MAX_BATCH_BYTES, encode_json


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

"""Does TDBA know a (UAI, SIRET) couple? Its public look-up, once per couple, cached a day.

TDBA's processing attaches each record to the organismes its formateur and responsable
couples name (an exact match, after a correction from the organismes' referential). The
public look-up (``POST /api/v1/organismes/get-by-uai-siret``, no key) answers the same exact
question: the couples of an export are few, each is asked once per run, a result is kept a
day on disk (``organismes-cache.json`` in the state directory, no learner data), requests are
few at a time and paced by the client under TDBA's public limit (300 per minute per IP:
:class:`~tdba_wizard.api.Pacer`; a 429 is waited for as it says). When the look-up cannot
answer, a couple is « non vérifié » — never « non trouvé ».
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tdba_wizard.api import Failure, Ok, OrganismeNotFound, RateLimited, TdbaClient

Couple = tuple[str, str]
CACHE_FILE = "organismes-cache.json"
TTL = dt.timedelta(days=1)
CONCURRENCY = 4
ATTEMPTS = 3


@dataclass(frozen=True)
class Known:
    """What TDBA's look-up said of a couple."""

    found: bool
    ferme: bool = False
    name: str = ""
    nature: str = ""
    checked: dt.datetime | None = None
    """When TDBA said so, for an answer from the cache (None: asked in this run)."""


class OrganismeDirectory:
    """The couples' look-ups of a run, with the day-long cache.

    ``clients`` (one, or several connection pools used in turn), ``ttl`` (how old a cached
    answer may be), ``concurrency`` and ``attempts`` are the nightly job's by default;
    ``--check`` asks once, and trusts its cache for an hour only. Two look-ups of the same
    couple at once (two establishments sent together) make one request.
    """

    def __init__(
        self,
        clients: TdbaClient | Sequence[TdbaClient],
        state_dir: Path,
        *,
        ttl: dt.timedelta = TTL,
        concurrency: int = CONCURRENCY,
        attempts: int = ATTEMPTS,
    ) -> None:
        self.clients = [clients] if isinstance(clients, TdbaClient) else list(clients)
        self.path = state_dir / CACHE_FILE
        self.ttl = ttl
        self.attempts = attempts
        self.asked = 0
        """Look-ups sent to TDBA in this run (the others came from the cache)."""
        self.failures: dict[Couple, Failure] = {}
        """Why a couple could not be asked (its answer is None)."""
        self._cache = self._load()
        self._slots = asyncio.Semaphore(concurrency)
        self._asking: dict[Couple, asyncio.Future[Known | None]] = {}
        self._changed = False

    def _load(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return (
            {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}
        )

    @staticmethod
    def _key(couple: Couple) -> str:
        return f"{couple[0]}|{couple[1]}"

    def _cached(self, couple: Couple, now: dt.datetime) -> Known | None:
        entry = self._cache.get(self._key(couple))
        if entry is None:
            return None
        try:
            checked = dt.datetime.fromisoformat(str(entry["checked"]))
            if now - checked > self.ttl or checked > now + dt.timedelta(minutes=5):
                return None
            name, nature = str(entry.get("name", "")), str(entry.get("nature", ""))
            return Known(bool(entry["found"]), bool(entry.get("ferme")), name, nature, checked)
        except (KeyError, ValueError, TypeError):
            return None

    async def lookup(self, couples: set[Couple]) -> dict[Couple, Known | None]:
        """Return what TDBA knows of each couple (None: could not be asked)."""
        now = dt.datetime.now(dt.UTC)
        results: dict[Couple, Known | None] = {}
        wanted = []
        for couple in sorted(couples):
            cached = self._cached(couple, now)
            if cached is not None:
                results[couple] = cached
            else:
                wanted.append(couple)
        answers = await asyncio.gather(*(self._shared(couple) for couple in wanted))
        for couple, known in zip(wanted, answers, strict=True):
            results[couple] = known
            if known is not None:
                self._cache[self._key(couple)] = {
                    "found": known.found,
                    "ferme": known.ferme,
                    "name": known.name,
                    "nature": known.nature,
                    "checked": now.isoformat(),
                }
                self._changed = True
        return results

    async def _shared(self, couple: Couple) -> Known | None:
        """Ask once for a couple, whoever else wants it meanwhile."""
        asking = self._asking.get(couple)
        if asking is None:
            asking = self._asking[couple] = asyncio.ensure_future(self._ask(couple))
            asking.add_done_callback(lambda _: self._asking.pop(couple, None))
        return await asyncio.shield(asking)

    async def _ask(self, couple: Couple) -> Known | None:
        async with self._slots:
            for attempt in range(self.attempts):
                client = self.clients[self.asked % len(self.clients)]
                self.asked += 1
                outcome = await client.find_organisme(*couple)
                if isinstance(outcome, Ok):
                    found = outcome.value
                    return Known(True, found.ferme, found.display_name, found.nature)
                if isinstance(outcome, OrganismeNotFound):
                    return Known(False)
                self.failures[couple] = outcome
                if not outcome.retryable or attempt + 1 == self.attempts:
                    return None
                wait = 2.0**attempt
                if isinstance(outcome, RateLimited) and outcome.retry_after is not None:
                    wait = min(outcome.retry_after, 60.0)
                await asyncio.sleep(wait)
        return None

    def save(self) -> None:
        """Keep the answers for a day (a failure to write only costs look-ups tomorrow)."""
        if not self._changed:
            return
        from tdba_wizard.files import write_private_atomic

        now = dt.datetime.now(dt.UTC)
        kept = {k: v for k, v in self._cache.items() if _fresh(v, now)}
        with contextlib.suppress(OSError):
            write_private_atomic(self.path, json.dumps(kept, ensure_ascii=False).encode("utf-8"))


def _fresh(entry: dict[str, object], now: dt.datetime) -> bool:
    """Kept in the file while the nightly job would use it (a day), whoever wrote it."""
    try:
        checked = dt.datetime.fromisoformat(str(entry["checked"]))
        return now - TTL <= checked <= now + dt.timedelta(minutes=5)
    except (KeyError, ValueError, TypeError):
        return False

"""What TDBA will do later with the records it accepts tonight, told tonight.

TDBA answers « Queued » and processes the records afterwards; what fails then shows only in
its web report. The reading process (:mod:`~tdba_wizard.nightly.reading`) notes, for each
valid record, everything that can be told without a network (:class:`Later`):

- rows TDBA will not attach as expected (a partner's UAI or SIRET that does not check; neither
  party being the establishment sent);
- the processing checks that need no look-up (contracts, dates: :mod:`~tdba_wizard.records.
  processing`), per pair of (formateur, responsable) couples — the pairs are few;
- learners already sent under another ``id_erp_apprenant`` or school year (TDBA will create a
  second effectif), from a local index of keyed hashes (no name is stored).

The job (:mod:`~tdba_wizard.nightly.job`) then looks each distinct couple up once
(:mod:`~tdba_wizard.nightly.organismes`) and :func:`predict` puts both together, with
upstream's messages.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tdba_wizard.nightly.frames import Groups, ReasonGroup
from tdba_wizard.records.processing import (
    CONTRACT_FIELDS,
    CONTRACT_SUFFIXES,
    ORGANISME_FORMATEUR_NOT_FOUND,
    ORGANISME_RESPONSABLE_NOT_FOUND,
    contract_issues,
    date_issue,
)

Couple = tuple[str, str]


_PARTY_CELLS = (
    "etablissement_responsable_uai",
    "etablissement_formateur_uai",
    "etablissement_responsable_siret",
    "etablissement_formateur_siret",
)
_CONTRACT_CELLS = tuple(
    f"{name}{suffix}"
    for suffix in CONTRACT_SUFFIXES
    for name in ("contrat_date_debut", "contrat_date_fin", "cause_rupture_contrat",
                 "contrat_date_rupture")
)  # fmt: skip
MAX_PAIRS = 2000
"""Pairs of couples kept per export (beyond: their records are « non vérifiés »)."""
SECOND_EFFECTIF = (
    "même apprenant (nom, prénom, date de naissance) déjà transmis sous un autre "
    "id_erp_apprenant ou une autre année scolaire : TDBA créera un second effectif"
)
TWICE_IN_EXPORT = (
    "même apprenant (nom, prénom, date de naissance) deux fois dans l'export, sous deux "
    "id_erp_apprenant ou deux années scolaires : TDBA créera deux effectifs"
)


@dataclass
class Pair:
    """The records that name one (formateur, responsable) pair, and their local issues."""

    records: ReasonGroup = field(default_factory=ReasonGroup)
    contracts: Groups = field(default_factory=dict)
    dates: ReasonGroup = field(default_factory=ReasonGroup)
    with_contract_issue: int = 0
    """Records of the pair with a contract issue (to count records, not issues)."""
    with_both: int = 0
    """Records with both a contract and a date issue."""

    def as_json(self, formateur: Couple, responsable: Couple) -> dict[str, Any]:
        return {
            "formateur": list(formateur),
            "responsable": list(responsable),
            "records": self.records.as_header(),
            "contracts": {m: g.as_header() for m, g in self.contracts.items()},
            "dates": self.dates.as_header(),
            "with_contract_issue": self.with_contract_issue,
            "with_both": self.with_both,
        }


@dataclass
class PairReport:
    """A pair as the job receives it from the reading process."""

    formateur: Couple
    responsable: Couple
    records: ReasonGroup
    contracts: Groups
    dates: ReasonGroup
    with_contract_issue: int
    with_both: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PairReport:
        return cls(
            (str(data["formateur"][0]), str(data["formateur"][1])),
            (str(data["responsable"][0]), str(data["responsable"][1])),
            ReasonGroup.from_header(data["records"]),
            {m: ReasonGroup.from_header(g) for m, g in data["contracts"].items()},
            ReasonGroup.from_header(data["dates"]),
            int(data["with_contract_issue"]),
            int(data.get("with_both", 0)),
        )


_FOLDED: dict[str, str] = {}


def _fold(text: str) -> str:
    """Return a name without case, accents or extra spaces (« Léa  » and « LEA » are one)."""
    folded = _FOLDED.get(text)
    if folded is None:
        lowered = text.strip().casefold()
        if not lowered.isascii():
            decomposed = unicodedata.normalize("NFKD", lowered)
            lowered = "".join(c for c in decomposed if not unicodedata.combining(c))
        folded = " ".join(lowered.split())
        if len(_FOLDED) < 65536:
            _FOLDED[text] = folded
    return folded


class LearnerIndex:
    """Who was sent under which ids and school years, by a keyed hash of (nom, prénom, date
    de naissance): the key is a secret of this installation (0600), no name is stored. Each
    learner keeps the last few (id, year) pairs TDBA holds an effectif for."""

    KEPT = 6

    def __init__(self, secret: bytes, known: dict[str, list[list[str]]]) -> None:
        self.secret = secret
        self.known = known
        self.seen: dict[str, list[list[str]]] = {}

    @classmethod
    def load(cls, secret: bytes, path: Path | None) -> LearnerIndex:
        known: dict[str, list[list[str]]] = {}
        if path is not None:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}  # no index yet, or a damaged one: it is rebuilt from this run
            if isinstance(data, dict):
                for key, pairs in data.items():
                    if isinstance(pairs, list):
                        known[str(key)] = [
                            [str(p[0]), str(p[1])]
                            for p in pairs
                            if isinstance(p, list) and len(p) == 2
                        ]
        return cls(secret, known)

    def key(self, record: dict[str, Any]) -> str | None:
        names = record.get("nom_apprenant"), record.get("prenom_apprenant")
        born = record.get("date_de_naissance_apprenant")
        if not all(isinstance(v, str) for v in (*names, born)):
            return None
        text = f"{_fold(str(names[0]))}\x1f{_fold(str(names[1]))}\x1f{str(born).strip()[:10]}"
        # BLAKE2b in keyed mode: a MAC in one call (HMAC-SHA-256 costs twice as much).
        return hashlib.blake2b(
            text.encode("utf-8"), key=self.secret[:64], digest_size=16
        ).hexdigest()

    def check(self, record: dict[str, Any]) -> tuple[str, str] | None:
        """Return (reason, the other id and year) when TDBA will hold this learner under a
        second (id, year) — one from an earlier night, or an earlier row of this export."""
        key = self.key(record)
        if key is None:
            return None
        now = [str(record.get("id_erp_apprenant", "")), str(record.get("annee_scolaire", ""))]
        found = None
        tonight = self.seen.setdefault(key, [])
        before = self.known.get(key, [])
        if now not in before and now not in tonight:
            if tonight:
                found = (TWICE_IN_EXPORT, f"{tonight[-1][0]}, {tonight[-1][1]}")
            elif before:
                found = (SECOND_EFFECTIF, f"avant : {before[-1][0]}, {before[-1][1]}")
        if now not in tonight:
            tonight.append(now)
        return found

    def write(self, path: Path) -> None:
        """Write the index as it will be once this export is sent (applied by the job)."""
        from tdba_wizard.files import write_private_atomic
        from tdba_wizard.wire import encode_json  # orjson, and lone surrogates escaped

        merged = dict(self.known)
        for key, pairs in self.seen.items():
            before = merged.get(key)
            if before is None or before == pairs:
                merged[key] = pairs[-self.KEPT :]
                continue
            known = [p for p in before if p not in pairs]
            merged[key] = (known + pairs)[-self.KEPT :]
        write_private_atomic(path, encode_json(merged))


class Later:
    """Per valid record: attachment, the local processing checks per pair, duplicates."""

    UAI = ("etablissement_responsable_uai", "etablissement_formateur_uai")
    SIRET = ("etablissement_responsable_siret", "etablissement_formateur_siret")

    def __init__(self, owner: Couple | None, learners: LearnerIndex | None = None) -> None:
        self.owner = owner
        self.learners = learners
        self.pairs: dict[tuple[Couple, Couple], Pair] = {}
        self.unpaired = ReasonGroup()
        """Records beyond :data:`MAX_PAIRS` pairs: not verified."""
        self.attention: Groups = {}
        self.duplicates: Groups = {}
        self._seen: dict[tuple[str, Any], tuple[Any, str | None]] = {}
        self._judged: dict[tuple[str, Any], Any] = {}
        self._dates: dict[tuple[Any, Any], bool] = {}
        self._contracts: dict[tuple[Any, ...], tuple[str, ...]] = {}
        self._parties_seen: dict[tuple[Any, ...], tuple[Couple, Couple, list[str]]] = {}

    # -- the values as TDBA stores them ----------------------------------------------------

    def _value(self, name: str, raw: Any) -> Any:
        key = (name, raw)
        try:
            return self._judged[key]
        except (KeyError, TypeError):
            pass
        from tdba_wizard.records.dossier import FIELDS

        value = FIELDS[name].rule(raw).value
        if len(self._judged) < 8192:
            with contextlib.suppress(TypeError):
                self._judged[key] = value
        return value

    def _identifier(self, name: str, value: Any) -> tuple[Any, str | None]:
        """Return a UAI or SIRET as TDBA stores it, and what is wrong with it (None: nothing)."""
        key = (name, value)
        found = self._seen.get(key)  # the cells of a valid record are strings: hashable
        if found is None:
            from tdba_wizard.identifiers import IdentifierError, parse_uai, siret_checksum_valid
            from tdba_wizard.text import clean

            stored = self._value(name, value)
            problem = None
            if name in self.UAI:
                try:
                    parse_uai(str(stored))
                except IdentifierError:
                    problem = f"{name} : {clean(stored, 20)} n'a pas la bonne lettre clé"
            elif not siret_checksum_valid(str(stored)):
                problem = f"{name} : le SIRET {clean(stored, 20)} a une clé de contrôle fausse"
            found = (stored, problem)
            if len(self._seen) < 4096:
                self._seen[key] = found
        return found

    # -- per record ------------------------------------------------------------------------

    def _parties(self, cells: tuple[Any, ...]) -> tuple[Couple, Couple, list[str]]:
        """Return (responsable, formateur) as TDBA stores them and what TDBA will do
        otherwise than expected with them, for the four cells (remembered: they repeat)."""
        try:
            found = self._parties_seen.get(cells)
            remember = True
        except TypeError:  # a cell that cannot be a key (JSON): judged each time
            found, remember = None, False
        if found is not None:
            return found
        stored, reasons = {}, []
        for name, raw in zip(_PARTY_CELLS, cells, strict=True):
            stored[name], problem = self._identifier(name, raw)
            if problem is not None:
                reasons.append(problem + " : TDBA ne trouvera pas l'établissement")
        responsable = (str(stored[self.UAI[0]]), str(stored[self.SIRET[0]]))
        formateur = (str(stored[self.UAI[1]]), str(stored[self.SIRET[1]]))
        if self.owner is not None and self.owner not in (responsable, formateur):
            uai, siret = self.owner
            reasons.append(
                f"ni le responsable ni le formateur n'est UAI {uai} / SIRET {siret} : le dossier "
                "sera rattaché à un autre établissement"
            )
        found = (responsable, formateur, reasons)
        if remember and len(self._parties_seen) < 4096:
            self._parties_seen[cells] = found
        return found

    def note(self, record: dict[str, Any], line: int, erp_id: str | None) -> None:
        responsable, formateur, reasons = self._parties(tuple(map(record.get, _PARTY_CELLS)))
        for reason in reasons:
            self._add(self.attention, reason, line, erp_id)
        self._processing(record, formateur, responsable, line, erp_id)
        if self.learners is not None:
            found = self.learners.check(record)
            if found is not None:
                reason, other = found
                self._add(self.duplicates, reason, line, f"{erp_id} ({other})")

    def _processing(
        self,
        record: dict[str, Any],
        formateur: Couple,
        responsable: Couple,
        line: int,
        erp_id: str | None,
    ) -> None:
        pair = self.pairs.get((formateur, responsable))
        if pair is None:
            if len(self.pairs) >= MAX_PAIRS:
                self.unpaired.add(line, erp_id)
                return
            pair = self.pairs[(formateur, responsable)] = Pair()
        pair.records.add(line, erp_id)
        contract = False
        if not CONTRACT_FIELDS.isdisjoint(record):
            for message in self._contract_messages(record):
                contract = True
                self._add(pair.contracts, message, line, erp_id)
        if contract:
            pair.with_contract_issue += 1
        dates = (record.get("date_fin_formation"), record.get("date_entree_formation"))
        late = self._dates.get(dates)
        if late is None:
            values = {
                "date_fin_formation": self._value("date_fin_formation", dates[0]),
                "date_entree_formation": self._value("date_entree_formation", dates[1]),
            }
            late = date_issue(values) is not None
            if len(self._dates) < 8192:
                self._dates[dates] = late
        if late:
            pair.dates.add(line, erp_id)
            if contract:
                pair.with_both += 1

    def _contract_messages(self, record: dict[str, Any]) -> tuple[str, ...]:
        """The contract issues of a record, remembered by its contract cells (they repeat)."""
        cells = tuple(map(record.get, _CONTRACT_CELLS))
        try:
            return self._contracts[cells]
        except KeyError:
            pass
        except TypeError:  # a cell that cannot be a key (JSON exports): judged each time
            cells = None  # type: ignore[assignment]
        values = {
            name: self._value(name, raw)
            for name, raw in zip(_CONTRACT_CELLS, map(record.get, _CONTRACT_CELLS), strict=True)
            if raw is not None
        }
        messages = tuple(
            issue.message
            for suffix in CONTRACT_SUFFIXES
            for issue in contract_issues(values, suffix)
        )
        if cells is not None and len(self._contracts) < 8192:
            self._contracts[cells] = messages
        return messages

    @staticmethod
    def _add(groups: Groups, reason: str, line: int, erp_id: str | None) -> None:
        groups.setdefault(reason, ReasonGroup()).add(line, erp_id)

    def pairs_json(self) -> list[dict[str, Any]]:
        return [pair.as_json(f, r) for (f, r), pair in self.pairs.items()]


# -- the job's side: look-ups and the prediction --------------------------------------------


@dataclass
class Predicted:
    """What TDBA's processing will reject, by message, and how many records."""

    groups: Groups = field(default_factory=dict)
    failing: int = 0
    """Distinct records that will be rejected."""
    unverified: int = 0
    """Records whose organismes could not be looked up (the look-up was down)."""
    closed: list[Couple] = field(default_factory=list)
    """Couples TDBA knows as closed (found: no processing error, but worth a look)."""


def _merge(into: ReasonGroup, other: ReasonGroup) -> None:
    into.count += other.count
    for ref in other.first:
        if len(into.first) < 5:
            into.first.append(ref)


def predict(
    pairs: list[PairReport], found: dict[Couple, bool | None], *, skip_missing: bool = False
) -> Predicted:
    """Put the pairs' local issues and the couples' look-ups together, as upstream does:
    a couple not found rejects its records; the contract checks run anyway; the date check
    only when both couples are found (or not known). ``skip_missing``: the records of a
    couple not found were not sent (``--hold-unmatched``)."""
    result = Predicted()
    for pair in pairs:
        formateur, responsable = found.get(pair.formateur), found.get(pair.responsable)
        if skip_missing and (formateur is False or responsable is False):
            continue
        if formateur is None or responsable is None:
            result.unverified += pair.records.count
        missing = False
        for is_found, message in (
            (formateur, ORGANISME_FORMATEUR_NOT_FOUND),
            (responsable, ORGANISME_RESPONSABLE_NOT_FOUND),
        ):
            if is_found is False:
                missing = True
                _merge(result.groups.setdefault(message, ReasonGroup()), pair.records)
        for message, group in pair.contracts.items():
            _merge(result.groups.setdefault(message, ReasonGroup()), group)
        if missing:
            result.failing += pair.records.count
            continue
        if pair.dates.count:
            from tdba_wizard.records.processing import END_BEFORE_START

            _merge(result.groups.setdefault(END_BEFORE_START, ReasonGroup()), pair.dates)
        result.failing += pair.with_contract_issue + pair.dates.count - pair.with_both
    return result

"""The v3 learner record ("dossier apprenant") rules, as the TDBA server applies them.

One table of field rules (TDBA-FIELDS.md) drives :func:`validate_dossier`, which returns the
normalised record and the server's own French messages with their paths. The sandbox answers
with it, and the nightly job uses it to refuse locally what TDBA would refuse.
Plain functions rather than a pydantic model: the messages must be TDBA's, byte for byte, and
the nightly job validates tens of thousands of rows per second.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import ge
from typing import Any

REQUIRED_FIELDS = (
    "nom_apprenant",
    "prenom_apprenant",
    "date_de_naissance_apprenant",
    "annee_scolaire",
    "id_erp_apprenant",
    "date_inscription_formation",
    "date_entree_formation",
    "date_fin_formation",
    "etablissement_responsable_uai",
    "etablissement_responsable_siret",
    "etablissement_formateur_uai",
    "etablissement_formateur_siret",
)
MSG_REQUIRED = "Champ obligatoire"
MSG_DATE = "Date invalide"
MSG_STRING = "String attendu"
MSG_NUMBER = "Number attendu"
MSG_BOOLEAN = "Boolean attendu"
MSG_UAI = "UAI invalide"
MSG_SIRET = "Siret invalide. Format attendu : 14 chiffres"
MSG_EMAIL = "Email non valide"
MSG_STATUT = "Valeurs possibles: 0,2,3"
MSG_ANNEE_SCOLAIRE = (
    "Format invalide (format attendu : 2023-2024). Les années doivent être consécutives ou "
    "identiques (ex : 2023-2024 ou 2024-2024)"
)
_SIFA_CODES = (
    "1003 1005 1009 1017 1019 1021 1023 2001 2003 2005 2007 3001 3101 3003 3103 3009 3109 "
    "3011 3111 3031 3131 3032 3132 3033 3133 3117 3119 3021 3121 3023 3123 4001 4101 4003 "
    "4103 4005 4105 4007 4107 4009 4011 4111 4013 4113 4015 4115 4017 4117 4019 4119 4021 "
    "4121 4023 4123 4025 4125 4027 4127 5901 5903 5905 5907 5909 9900 9999"
)
SIFA_SITUATIONS = frozenset(int(code) for code in _SIFA_CODES.split())
SERVER_FIELDS = frozenset({"has_nir", "source", "source_organisme_id", "api_version"})

_DATE_PREFIX = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_UAI = re.compile(r"^[0-9]{7}[A-Z]$")
_SIRET_SEPARATORS = re.compile(r"[\s.\-]")
_SIRET = re.compile(r"^[0-9]{14}$")
_EMAIL = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")
_PHONE_SEPARATORS = re.compile(r"[\s\-.()]")
_PHONE_FR = re.compile(r"^(?:0|\+33|0033|33)([1-9][0-9]{8})$")
_PHONE_E164 = re.compile(r"^(?:\+|00)([1-9][0-9]{6,14})$")
_ANNEE_SCOLAIRE = re.compile(r"^([12][0-9]{3})-([12][0-9]{3})$")
_RNCP = re.compile(r"^(RNCP)?[0-9]{2,5}$")
_CFD = re.compile(r"^[A-Z0-9]{8}$")
_CODE_POSTAL = re.compile(r"^[0-9]{5}$")
_INSEE = re.compile(r"^([0-9]{2}|2A|2B)[0-9]{3}$")
_DERNIER_ORGANISME = re.compile(
    r"^(0?[0-9][0-9]|0?2[AB]|0?9[012345]|97[1234678]|98[678]|99[0135]|[0-9]{7}[a-zA-Z])$"
)
_INTEGER = re.compile(r"^\s*-?[0-9]+\s*$")


class Invalid(Exception):
    """A field value the server refuses, with its message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Drop(Exception):
    """A field value the server silently turns into null."""


Rule = Callable[[Any], Any]


def _string(value: Any) -> str:
    if type(value) is not str:
        raise Invalid(MSG_STRING)
    return value


def text(value: Any) -> str:
    """Any string, trimmed."""
    if type(value) is not str:
        raise Invalid(MSG_STRING)
    return value.strip()


def text_min(minimum: int) -> Rule:
    message = f"Le texte doit contenir au moins {minimum} caractère(s)"

    def rule(value: Any) -> str:
        if type(value) is not str:
            raise Invalid(MSG_STRING)
        result = value.strip()
        if len(result) < minimum:
            raise Invalid(message)
        return result

    return rule


def to_text(value: Any) -> str:
    """A value converted to a string (numbers accepted), trimmed."""
    if type(value) is str:
        return value.strip()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid(MSG_STRING)
    return str(value).strip()


def upper_text(value: Any) -> str:
    return to_text(value).upper()


def nom(value: Any) -> str:
    if type(value) is not str:
        raise Invalid(MSG_STRING)
    result = value.strip()
    if not result:
        raise Invalid("Le texte doit contenir au moins 1 caractère(s)")
    return result.upper()


def _real_day(prefix: str) -> bool:
    """Return True when a YYYY-MM-DD string names a day that exists."""
    match = _DATE_PREFIX.match(prefix)
    if not match:
        return False
    try:
        dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return False
    return True


def iso_date(value: Any) -> str:
    """A string starting with YYYY-MM-DD that is a real date (a datetime is fine)."""
    if not isinstance(value, str):
        raise Invalid(MSG_DATE)
    stripped = value.strip()
    if not _real_day(stripped[:10]):
        raise Invalid(MSG_DATE)
    return stripped


def annee_scolaire(value: Any) -> str:
    result = _string(value).replace("/", "-").replace(" ", "")
    match = _ANNEE_SCOLAIRE.match(result)
    if not match or int(match[2]) - int(match[1]) not in (0, 1):
        raise Invalid(MSG_ANNEE_SCOLAIRE)
    return result


def id_erp(value: Any) -> str:
    if not value or isinstance(value, (dict, list)):
        raise Invalid(MSG_STRING)
    return str(value).strip()


def uai(value: Any) -> str:
    if type(value) is not str:
        raise Invalid(MSG_STRING)
    result = value.strip().upper()
    if not _UAI.match(result):
        raise Invalid(MSG_UAI)
    return result


def siret(value: Any) -> str:
    if type(value) is str and len(value) == 14 and value.isdigit() and value.isascii():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    result = _SIRET_SEPARATORS.sub("", _string(value))
    if not _SIRET.match(result):
        raise Invalid(MSG_SIRET)
    return result


def siret_or_null(value: Any) -> str:
    try:
        return siret(value)
    except Invalid:
        raise Drop from None


def email(value: Any) -> str:
    if type(value) is not str:
        raise Invalid(MSG_STRING)
    result = value.strip()
    if not _EMAIL.match(result):
        raise Invalid(MSG_EMAIL)
    return result


def telephone(value: Any) -> str:
    if value == "":
        raise Drop
    if (
        type(value) is str
        and len(value) == 10
        and value[0] == "0"
        and value[1] != "0"
        and value.isdigit()
        and value.isascii()
    ):
        return value  # the usual 0XXXXXXXXX, already normalised
    result = _PHONE_SEPARATORS.sub("", to_text(value))
    french = _PHONE_FR.match(result)
    if french:
        return "0" + french[1]
    international = _PHONE_E164.match(result)
    if international:
        return "+" + international[1]
    raise Invalid("Format invalide")


def integer(value: Any) -> int:
    if type(value) is int:
        return value
    if isinstance(value, bool):
        raise Invalid(MSG_NUMBER)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.match(value):
        return int(value)
    raise Invalid(MSG_NUMBER)


def statut(value: Any) -> int:
    result = integer(value)
    if result not in (0, 2, 3):
        raise Invalid(MSG_STATUT)
    return result


def annee_formation(value: Any) -> int:
    result = integer(value)
    if result > 5:
        raise Invalid("Le chiffre doit être inférieur ou égal à 5")
    if result < 0:
        raise Invalid("Le chiffre doit être supérieur ou égal à 0")
    return result


def bounded_or_null(low: int, high: int) -> Rule:
    def rule(value: Any) -> int:
        try:
            result = integer(value)
        except Invalid:
            raise Drop from None
        if not low <= result <= high:
            raise Drop
        return result

    return rule


def rncp(value: Any) -> str:
    result = _SIRET_SEPARATORS.sub("", to_text(value)).upper()
    if not result.startswith("RNCP"):
        result = "RNCP" + result
    if not _RNCP.match(result):
        raise Invalid("Code RNCP invalide")
    return result


def cfd(value: Any) -> str:
    result = upper_text(value)
    if not _CFD.match(result):
        raise Invalid("Code CFD invalide")
    return result


def _padded_postal(value: Any) -> str:
    return to_text(value).zfill(5)


def code_postal(value: Any) -> str:
    result = _padded_postal(value)
    if not _CODE_POSTAL.match(result):
        raise Invalid("Le code postal doit faire 5 caractères numériques exactement")
    return result


def code_postal_or_null(value: Any) -> str:
    try:
        return code_postal(value)
    except Invalid:
        raise Drop from None


def insee(value: Any) -> str:
    result = upper_text(value)
    if not _INSEE.match(result):
        raise Invalid("Format invalide")
    return result


def sexe(value: Any) -> str:
    mapping = {"M": "M", "H": "M", "1": "M", "F": "F", "2": "F"}
    key = str(value).strip().upper() if isinstance(value, (str, int)) else ""
    if isinstance(value, bool) or key not in mapping:
        raise Invalid("M, H ou F attendu")
    return mapping[key]


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid(MSG_BOOLEAN)
    return value


def derniere_situation(value: Any) -> int:
    result = integer(value)
    if result == 0:
        raise Drop
    if result not in SIFA_SITUATIONS:
        raise Invalid("Code SIFA invalide (SIT_N_1)")
    return result


def dernier_organisme(value: Any) -> str:
    result = to_text(value)
    if not _DERNIER_ORGANISME.match(result):
        raise Invalid("UAI ou département")
    return result


def type_cfa(value: Any) -> str:
    result = to_text(value).zfill(2)
    if result not in {f"{n:02d}" for n in range(1, 11)}:
        raise Invalid("Valeurs possibles: 01,02,03,04,05,06,07,08,09,10")
    return result


FIELD_RULES: dict[str, Rule] = {
    "nom_apprenant": nom,
    "prenom_apprenant": text_min(1),
    "date_de_naissance_apprenant": iso_date,
    "annee_scolaire": annee_scolaire,
    "id_erp_apprenant": id_erp,
    "date_inscription_formation": iso_date,
    "date_entree_formation": iso_date,
    "date_fin_formation": iso_date,
    "etablissement_responsable_uai": uai,
    "etablissement_responsable_siret": siret,
    "etablissement_formateur_uai": uai,
    "etablissement_formateur_siret": siret,
    "statut_apprenant": statut,
    "date_metier_mise_a_jour_statut": iso_date,
    "ine_apprenant": upper_text,
    "email_contact": email,
    "tel_apprenant": telephone,
    "libelle_court_formation": text_min(2),
    "annee_formation": annee_formation,
    "formation_rncp": rncp,
    "formation_cfd": cfd,
    "custom_statut_apprenant": to_text,
    "adresse_apprenant": text,
    "code_postal_apprenant": code_postal,
    "code_postal_de_naissance_apprenant": code_postal_or_null,
    "code_commune_insee_apprenant": insee,
    "code_commune_insee_de_naissance_apprenant": insee,
    "sexe_apprenant": sexe,
    "rqth_apprenant": boolean,
    "date_rqth_apprenant": iso_date,
    "responsable_apprenant_mail1": email,
    "responsable_apprenant_mail2": email,
    "obtention_diplome_formation": boolean,
    "date_obtention_diplome_formation": iso_date,
    "date_exclusion_formation": iso_date,
    "cause_exclusion_formation": text,
    "nom_referent_handicap_formation": text,
    "prenom_referent_handicap_formation": text,
    "email_referent_handicap_formation": email,
    "formation_presentielle": boolean,
    "duree_theorique_formation": bounded_or_null(1, 4),
    "duree_theorique_formation_mois": bounded_or_null(1, 48),
    "etablissement_lieu_de_formation_uai": uai,
    "etablissement_lieu_de_formation_siret": siret_or_null,
    "etablissement_lieu_de_formation_adresse": text,
    "etablissement_lieu_de_formation_code_postal": code_postal,
    "derniere_situation": derniere_situation,
    "dernier_organisme_uai": dernier_organisme,
    "type_cfa": type_cfa,
}


for _suffix in ("", "_2", "_3", "_4"):
    FIELD_RULES[f"contrat_date_debut{_suffix}"] = iso_date
    FIELD_RULES[f"contrat_date_fin{_suffix}"] = iso_date
    FIELD_RULES[f"contrat_date_rupture{_suffix}"] = iso_date
    FIELD_RULES[f"cause_rupture_contrat{_suffix}"] = text
    FIELD_RULES[f"siret_employeur{_suffix}"] = siret_or_null
DATE_FIELDS = frozenset(name for name, rule in FIELD_RULES.items() if rule is iso_date)
KNOWN_FIELDS = frozenset(FIELD_RULES) | {"nir_apprenant"}
_REQUIRED = frozenset(REQUIRED_FIELDS)
# Fields whose values repeat from row to row (dates, years, codes, UAIs, names...): their
# results are remembered, as a dictionary look-up costs a fraction of a rule. Rules are pure and
# return immutable values; refusals are not remembered. Only str and int values are (not bool
# nor float: 1 == True == 1.0).
# At most MEMO_SIZE values per field: past that, new values are checked each time.
MEMO_SIZE = 4096
_MEMOS: dict[str, dict[Any, Any]] = {
    name: {}
    for name in (
        *DATE_FIELDS, "annee_scolaire", "sexe_apprenant", "annee_formation", "formation_rncp",
        "formation_cfd", "duree_theorique_formation", "duree_theorique_formation_mois",
        "statut_apprenant", "etablissement_responsable_uai", "etablissement_formateur_uai",
        "etablissement_responsable_siret", "etablissement_formateur_siret", "type_cfa",
        "derniere_situation", "etablissement_lieu_de_formation_uai", "dernier_organisme_uai",
        "code_postal_apprenant", "libelle_court_formation", "code_commune_insee_apprenant",
        "code_postal_de_naissance_apprenant", "code_commune_insee_de_naissance_apprenant",
        "nom_apprenant", "prenom_apprenant", "siret_employeur", "siret_employeur_2",
        "siret_employeur_3", "siret_employeur_4", "adresse_apprenant",
    )
}  # fmt: skip
_MISSING = object()
_PLAN: dict[str, tuple[Rule, dict[Any, Any] | None]] = {
    name: (rule, _MEMOS.get(name)) for name, rule in FIELD_RULES.items()
}


@dataclass(frozen=True)
class FieldError:
    """One validation error as the server reports it: a message and the field path."""

    message: str
    path: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        """Return the ``validation_errors`` item of the API."""
        return {"message": self.message, "path": list(self.path)}


def validate_dossier(item: Any) -> tuple[dict[str, Any], list[FieldError]]:
    """Return the normalised record and its errors (empty when the server would accept it)."""
    if not isinstance(item, Mapping):
        return {}, [FieldError("Object attendu", ())]
    errors: list[FieldError] = []
    record: dict[str, Any] = {}
    plan, missing = _PLAN, _MISSING
    for name, value in item.items():
        entry = plan.get(name)
        if entry is None or value is None:  # top-level nulls are treated as absent
            if name == "nir_apprenant" and value is not None:
                record["has_nir"] = _has_nir(value)
            continue  # unknown and server-set fields are dropped silently
        rule, memo = entry
        kind = type(value)
        if memo is not None and (kind is str or kind is int):  # not bool: 1 == True
            result = memo.get(value, missing)
            if result is not missing:
                record[name] = result
                continue
        else:
            memo = None
        try:
            result = rule(value)
        except Invalid as error:
            errors.append(FieldError(error.message, (name,)))
            continue
        except Drop:
            continue
        record[name] = result
        if memo is not None and len(memo) < MEMO_SIZE:
            memo[value] = result
    if not record.keys() >= _REQUIRED:  # some required field is absent, null or invalid
        errors = _absent(lambda name: item.get(name) is not None) + errors
    derive_months(record)
    return record, errors


def _absent(given: Callable[[str], bool]) -> list[FieldError]:
    """Return the errors of the required fields not given, as the server words them."""
    return [
        FieldError(MSG_REQUIRED if name in DATE_FIELDS else MSG_STRING, (name,))
        for name in REQUIRED_FIELDS
        if not given(name)
    ]


def derive_months(record: dict[str, Any]) -> None:
    """Fill ``duree_theorique_formation_mois`` from the duration in years when only it is given."""
    if "duree_theorique_formation_mois" not in record and "duree_theorique_formation" in record:
        record["duree_theorique_formation_mois"] = record["duree_theorique_formation"] * 12


def _has_nir(value: Any) -> bool:
    return bool(_SIRET_SEPARATORS.sub("", str(value)))


_SKIP = object()  # a cell that gives no field (empty, blank, dropped, unknown column)
_UNSEEN = object()  # a cell its column has not remembered


def _fit(cells: Sequence[str], width: int) -> Sequence[str]:
    return [*cells[:width], *[""] * (width - len(cells))]


ColumnCheck = Callable[[Sequence[str]], object]  # raises ValueError when a cell is not known


def _passes(check: ColumnCheck, cells: Sequence[str]) -> bool:
    try:
        check(cells)
    except ValueError:
        return False
    return True


@dataclass
class RowsChecked:
    """A block of rows validated: each row's record (None: an empty line), and the errors of
    the rows refused, by their index in the block."""

    records: list[dict[str, Any] | None]
    errors: dict[int, list[FieldError]]

    def each(self) -> list[tuple[dict[str, Any], list[FieldError]] | None]:
        """Return, row by row, the record and its errors (None: an empty line)."""
        return [
            None if record is None else (record, self.errors.get(index, []))
            for index, record in enumerate(self.records)
        ]


class RowValidator:
    """:func:`validate_dossier` for rows of cells in a fixed column order (a CSV export).

    The same rules and messages, several times faster for large exports. Rows are taken a
    block at a time and read column by column, mostly in C:

    - ``same(name)`` may give a check, in compiled code, that each cell of a column is empty
      or a value the field's rule returns as it is (the usual e-mail, phone number, postal
      code...): such a column is then taken as it is;
    - otherwise each column remembers what the cells it has seen give (the conversion the
      reader applies to the column, then the field's rule), so that most cells are one
      dictionary look-up; refusals are not remembered.

    ``convert`` gives the conversion for a column name (None: none).
    """

    def __init__(
        self,
        columns: Sequence[str],
        convert: Callable[[str], Rule | None],
        same: Callable[[str], ColumnCheck | None] = lambda name: None,
    ) -> None:
        if len(set(columns)) != len(columns):
            raise ValueError("duplicate columns: validate the rows as dicts")
        self.columns = tuple(columns)
        # Per column: (field name, rule, memo, remember, check). Every memo knows the empty
        # cell (absent), so that most cells are one look-up; only some columns remember more.
        self._plan: list[tuple[str, Rule | None, dict[str, Any], bool, ColumnCheck | None]] = []
        for name in columns:
            rule = FIELD_RULES.get(name)
            conversion = convert(name)
            check = same(name) if rule is not None and conversion is None else None
            if rule is not None and conversion is not None:
                rule = _compose(conversion, rule)
            if name == "nir_apprenant":
                name, rule, check = "has_nir", _has_nir, None
            remember = name in _MEMOS or conversion is not None
            self._plan.append((name, rule, {"": _SKIP}, remember, check))
        self._names = tuple(name for name, _, _, _, _ in self._plan)
        self._years = "duree_theorique_formation" in self._names  # months derived from it
        self._checked = [False] * len(self._plan)  # per column: the last block needed its check
        self._erp = columns.index("id_erp_apprenant") if "id_erp_apprenant" in columns else None

    def validate(self, cells: Sequence[str]) -> tuple[dict[str, Any], list[FieldError]] | None:
        """Return the normalised record and its errors, or None for a row with no value."""
        return self.validate_rows([cells]).each()[0]

    def validate_rows(self, rows: Sequence[Sequence[str]]) -> RowsChecked:
        """:meth:`validate` for each row (a block of a few hundred rows is the fast way)."""
        width = len(self._plan)
        if width == 0 or not rows:
            return RowsChecked([None] * len(rows), {})
        # Short rows lack their last cells (absent); cells past the header are ignored.
        rows = [cells if len(cells) == width else _fit(cells, width) for cells in rows]
        errors: dict[int, list[FieldError]] = {}
        columns = [
            self._column(position, cells, errors)
            for position, cells in enumerate(zip(*rows, strict=True))
        ]
        built = self._records(columns, len(rows))
        complete = map(ge, map(dict.keys, built), repeat(_REQUIRED))
        records: list[dict[str, Any] | None] = list(built)
        for index in [index for index, ok in enumerate(complete) if not ok]:
            given = {
                name
                for name, cell in zip(self.columns, rows[index], strict=True)
                if cell and not cell.isspace()
            }
            if not given:
                records[index] = None  # an empty line
                errors.pop(index, None)
                continue
            errors[index] = _absent(given.__contains__) + errors.get(index, [])
        if self._years:
            for record in records:
                if record is not None:
                    derive_months(record)
        return RowsChecked(records, errors)

    def _column(
        self, position: int, cells: Sequence[str], errors: dict[int, list[FieldError]]
    ) -> list[Any]:
        """Return the values of one column of a block (_SKIP: none); add refusals to ``errors``.

        A column whose memo knew every cell of the last block starts with its memo; one that
        needed its check last time (values unique to each learner) starts with the check.
        """
        name, rule, memo, remember, check = self._plan[position]
        if rule is None:  # a column TDBA does not know: dropped silently
            return [_SKIP] * len(cells)
        tried = False
        if check is not None and self._checked[position]:
            if _passes(check, cells):
                return list(map(memo.get, cells, cells))  # "" is absent
            tried = True
        values = list(map(memo.get, cells, repeat(_UNSEEN)))
        if _UNSEEN not in values:
            self._checked[position] = False
            return values
        if check is not None and not tried and _passes(check, cells):
            self._checked[position] = True
            return list(map(memo.get, cells, cells))
        for index, value in enumerate(values):
            if value is _UNSEEN:
                try:
                    values[index] = self._first_sight(rule, memo, remember, cells[index])
                except Invalid as error:
                    values[index] = _SKIP
                    errors.setdefault(index, []).append(FieldError(error.message, (name,)))
        return values

    def _records(self, columns: list[list[Any]], count: int) -> list[dict[str, Any]]:
        """Return each row's fields with a value (_SKIP: none), from the block's columns."""
        skip = _SKIP
        full_names, full, some_names, some = [], [], [], []
        for name, values in zip(self._names, columns, strict=True):
            if skip not in values:  # a value in every row: zipped at once below
                full_names.append(name)
                full.append(values)
            elif values.count(skip) < count:  # columns with no value at all are left out
                some_names.append(name)
                some.append(values)
        if full:  # one dict per row, built in C (the columns all have the block's length)
            rows = zip(*full, strict=True)
            records = list(map(dict, map(zip, repeat(full_names), rows)))
        else:
            records = [{} for _ in range(count)]
        for name, values in zip(some_names, some, strict=True):
            for record, value in zip(records, values, strict=True):
                if value is not skip:
                    record[name] = value
        return records

    @staticmethod
    def _first_sight(rule: Rule, memo: dict[str, Any], remember: bool, cell: str) -> Any:
        """Return a cell's value (_SKIP: absent) the first time it is seen in its column.

        Raises Invalid (not remembered) when the field's rule refuses it.
        """
        if cell.isspace():
            value = _SKIP  # a blank cell is absent
        else:
            try:
                value = rule(cell)
            except Drop:
                value = _SKIP
        if remember and len(memo) < MEMO_SIZE:
            memo[cell] = value
        return value

    def erp_id(self, cells: Sequence[str]) -> str | None:
        """Return the row's ``id_erp_apprenant`` as given (stripped), for the report."""
        index = self._erp
        if index is None or index >= len(cells) or not cells[index].strip():
            return None
        return cells[index].strip()


def _compose(first: Callable[[str], Any], then: Rule) -> Rule:
    def composed(value: str) -> Any:
        return then(first(value))

    return composed


def processing_errors(record: Mapping[str, Any], known_couples: set[tuple[str, str]]) -> list[str]:
    """Return the errors TDBA finds later, asynchronously (shown only in its web UI)."""
    problems = []
    couple = (record["etablissement_formateur_uai"], record["etablissement_formateur_siret"])
    if couple not in known_couples:
        problems.append("organisme formateur non trouvé")
    responsable = (
        record["etablissement_responsable_uai"],
        record["etablissement_responsable_siret"],
    )
    if responsable not in known_couples:
        problems.append("organisme responsable non trouvé")
    if record["date_fin_formation"][:10] < record["date_entree_formation"][:10]:
        problems.append("la date de fin de formation est antérieure à la date d'entrée")
    return problems

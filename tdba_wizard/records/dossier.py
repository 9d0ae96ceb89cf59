"""A learner record ("dossier apprenant") judged as TDBA's ingestion route judges it.

``POST /api/v3/dossiers-apprenants`` (server/src/http/routes/specific.routes/
dossiers-apprenants.routes.ts) removes the null properties of each item, validates
``{...item, source}`` with ``dossierApprenantSchemaV3Input`` (zod reads the fields in the
schema's order, so the messages come in that order) and echoes the item's own values of the
schema's fields, the NIR excepted, with the fields the server adds. :func:`judge` is that
validation, :data:`SCHEMA` the field order; the sandbox builds its echo from
:func:`echo_values`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tdba_wizard.records import rules
from tdba_wizard.records.js import UNDEFINED, truthy
from tdba_wizard.records.rules import Judged, Rule, optional

_V3 = "shared/models/parts/dossierApprenantSchemaV3.ts"
_P = "shared/models/parts/zodPrimitives.ts"


@dataclass(frozen=True)
class Field:
    """One field of the input schema: its rule, and where upstream declares it."""

    name: str
    rule: Rule
    """The rule as the schema applies it (``.optional()`` included)."""
    kind: Rule
    """The field's own rule (without ``.optional()``)."""
    required: bool
    source: str
    """The upstream schema line (file:line) of the field, and of its primitive."""


def _field(name: str, rule: Rule, line: int, primitive: int, *, required: bool = False) -> Field:
    declared = rule if required else optional(rule)
    return Field(name, declared, rule, required, f"{_V3}:{line} ({_P}:{primitive})")


def _contract(suffix: str, line: int) -> list[Field]:
    return [
        _field(f"contrat_date_debut{suffix}", rules.iso_date, line, 367),
        _field(f"contrat_date_fin{suffix}", rules.iso_date, line + 1, 373),
        _field(f"contrat_date_rupture{suffix}", rules.iso_date, line + 2, 376),
        _field(f"cause_rupture_contrat{suffix}", rules.text, line + 3, 491),
    ]


SCHEMA: tuple[Field, ...] = (
    _field("nom_apprenant", rules.nom, 22, 188, required=True),
    _field("prenom_apprenant", rules.prenom, 23, 192, required=True),
    _field("date_de_naissance_apprenant", rules.iso_date, 24, 196, required=True),
    _field("annee_scolaire", rules.annee_scolaire, 29, 323, required=True),
    _field("statut_apprenant", rules.statut, 30, 201),
    _field("date_metier_mise_a_jour_statut", rules.iso_date, 31, 208),
    _field("id_erp_apprenant", rules.id_erp, 32, 211, required=True),
    _field("ine_apprenant", rules.ine, 35, 215),
    _field("email_contact", rules.email, 36, 219),
    _field("tel_apprenant", rules.telephone, 37, 94),
    _field("libelle_court_formation", rules.libelle_court, 40, 305),
    _field("annee_formation", rules.annee_formation, 44, 351),
    _field("formation_rncp", rules.rncp, 45, 284),
    _field("contrat_date_debut", rules.iso_date, 46, 367),
    _field("contrat_date_fin", rules.iso_date, 47, 373),
    _field("contrat_date_rupture", rules.iso_date, 48, 376),
    _field("custom_statut_apprenant", rules.custom_statut, 50, 551),
    _field("adresse_apprenant", rules.trimmed_text, 54, 388),
    _field("code_postal_apprenant", rules.code_postal, 56, 389),
    _field("code_postal_de_naissance_apprenant", rules.code_postal_or_null, 57, 80),
    _field("code_commune_insee_apprenant", rules.insee, 58, 177),
    _field("code_commune_insee_de_naissance_apprenant", rules.insee, 59, 177),
    _field("sexe_apprenant", rules.sexe, 61, 397),
    _field("rqth_apprenant", rules.boolean, 62, 406),
    _field("date_rqth_apprenant", rules.iso_date, 63, 407),
    _field("responsable_apprenant_mail1", rules.email, 64, 413),
    _field("responsable_apprenant_mail2", rules.email, 65, 413),
    _field("obtention_diplome_formation", rules.boolean, 66, 426),
    _field("date_obtention_diplome_formation", rules.iso_date, 67, 430),
    _field("date_exclusion_formation", rules.iso_date, 68, 463),
    _field("cause_exclusion_formation", rules.text, 69, 467),
    _field("nom_referent_handicap_formation", rules.text, 70, 476),
    _field("prenom_referent_handicap_formation", rules.text, 71, 479),
    _field("email_referent_handicap_formation", rules.email_untrimmed, 72, 482),
    _field("cause_rupture_contrat", rules.text, 73, 491),
    *_contract("_2", 74),
    *_contract("_3", 78),
    *_contract("_4", 82),
    *(
        _field(f"siret_employeur{suffix}", rules.siret_or_null, 86 + offset, 87)
        for offset, suffix in enumerate(("", "_2", "_3", "_4"))
    ),
    _field("formation_presentielle", rules.boolean, 90, 488),
    # Not optional: upstream turns an absent duration into null.
    _field("duree_theorique_formation", rules.duree_annees, 92, 69, required=True),
    _field("duree_theorique_formation_mois", rules.duree_mois, 93, 69, required=True),
    _field("date_inscription_formation", rules.iso_date, 96, 438, required=True),
    _field("date_entree_formation", rules.iso_date, 97, 434, required=True),
    _field("date_fin_formation", rules.iso_date, 98, 441, required=True),
    _field("etablissement_responsable_uai", rules.uai, 100, 229, required=True),
    _field("etablissement_responsable_siret", rules.siret, 101, 233, required=True),
    _field("etablissement_formateur_uai", rules.uai, 102, 245, required=True),
    _field("etablissement_formateur_siret", rules.siret, 103, 249, required=True),
    _field("etablissement_lieu_de_formation_uai", rules.uai, 104, 261),
    _field("etablissement_lieu_de_formation_siret", rules.siret_or_null, 105, 87),
    _field("etablissement_lieu_de_formation_adresse", rules.trimmed_text, 106, 272),
    _field("etablissement_lieu_de_formation_code_postal", rules.code_postal, 107, 273),
    _field("formation_cfd", rules.cfd, 109, 301),
    _field("derniere_situation", rules.derniere_situation, 111, 514),
    _field("dernier_organisme_uai", rules.dernier_organisme, 112, 521),
    _field("type_cfa", rules.type_cfa, 113, 530),
    # Merged after the base schema by dossierApprenantSchemaV3Input.
    _field("nir_apprenant", rules.nir, 128, 128),
    _field("api_version", rules.api_version, 143, 186),
    _field("source_organisme_id", rules.source_organisme_id, 145, 184),
)
FIELDS: dict[str, Field] = {f.name: f for f in SCHEMA}
SCHEMA_ORDER = {name: position for position, name in enumerate(FIELDS)}
REQUIRED_FIELDS = (
    "nom_apprenant", "prenom_apprenant", "date_de_naissance_apprenant", "annee_scolaire",
    "id_erp_apprenant", "date_inscription_formation", "date_entree_formation",
    "date_fin_formation", "etablissement_responsable_uai", "etablissement_responsable_siret",
    "etablissement_formateur_uai", "etablissement_formateur_siret",
)  # fmt: skip
"""The fields an export must give (the two durations are "required" by zod but may be absent)."""
DATE_FIELDS = frozenset(f.name for f in SCHEMA if f.kind is rules.iso_date)
SERVER_FIELDS = ("api_version", "source_organisme_id")
"""Fields the server sets itself, still validated when an item carries them."""
# The fields a record may carry, in the schema's order; "source" is set by the route and
# "has_nir" is dropped (computed from nir_apprenant).
ECHO_ORDER = (*(f.name for f in SCHEMA[:-3]), "api_version", "source", "source_organisme_id")
DATA_FIELDS = tuple(f.name for f in SCHEMA if f.name not in SERVER_FIELDS)
"""The fields an ERP sends: every v3 field, the NIR included."""


@dataclass(frozen=True)
class FieldError:
    """One validation error as the server reports it: a message and the field path."""

    message: str
    path: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        """Return the ``validation_errors`` item of the API."""
        return {"message": self.message, "path": list(self.path)}


@dataclass
class Judgement:
    """A record judged: what TDBA keeps, its errors in order, and what it changes silently."""

    output: dict[str, Any] = field(default_factory=dict)
    errors: list[FieldError] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    """(field, note) for each value TDBA changes or drops without a word."""


def own_values(item: Any) -> dict[str, Any]:
    """Return what the route validates of an item: its own non-null properties.

    Upstream's ``stripNullProperties`` makes an object of anything (``null``, ``1`` and
    ``[]`` give ``{}``); a ``__proto__`` key becomes the object's prototype, which the spread
    ``{...item, source}`` leaves out.
    """
    if not isinstance(item, Mapping):
        return {}
    return {k: v for k, v in item.items() if v is not None and k != "__proto__"}


def echo_values(item: Any) -> dict[str, Any]:
    """Return the values the route echoes and queues: the schema's fields, as given (a
    ``__proto__`` object's values included), in the schema's order, without the NIR."""
    if not isinstance(item, Mapping):
        return {}
    own = own_values(item)
    inherited = item.get("__proto__")
    proto = inherited if isinstance(inherited, Mapping) else {}
    echo = {}
    for name in ECHO_ORDER:
        if name in own:
            echo[name] = own[name]
        elif name in proto:  # read through the prototype, unlike the validation
            echo[name] = proto[name]
    return echo


def has_nir(item: Any) -> bool:
    """Return what the route stores as ``has_nir``: ``Boolean(nir_apprenant)`` as given."""
    if not isinstance(item, Mapping):
        return False
    value = item.get("nir_apprenant")
    if value is None and isinstance(item.get("__proto__"), Mapping):
        value = item["__proto__"].get("nir_apprenant")
    return truthy(value if value is not None else UNDEFINED)


def judge(item: Any) -> Judgement:
    """Validate one item as the route does (``dossierApprenantSchemaV3Input.safeParse``)."""
    values = own_values(item)
    result = Judgement()
    output, errors, notes = result.output, result.errors, result.notes
    for spec in SCHEMA:
        name = spec.name
        judged: Judged = spec.rule(values.get(name, UNDEFINED))
        if judged.messages:
            path = (name,)
            errors.extend(FieldError(message, path) for message in judged.messages)
            continue
        if judged.value is not UNDEFINED:
            output[name] = judged.value
        if judged.note is not None:
            notes.append((name, judged.note))
    return result


def validate_dossier(item: Any) -> tuple[dict[str, Any], list[FieldError]]:
    """Return what TDBA keeps of a record and its errors (empty when TDBA accepts it)."""
    judged = judge(item)
    return judged.output, judged.errors

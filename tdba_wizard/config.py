"""The configuration file: pydantic models, TOML load and atomic save.

The file holds no secret. Loading never lets a traceback reach the user: a syntax error names
the file, line and column; a validation error names the field and says in French what to fix.
"""

from __future__ import annotations

import ipaddress
import os
import re
import string
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from tdba_wizard.errors import TdbaError
from tdba_wizard.files import write_private_atomic
from tdba_wizard.identifiers import parse_siret, parse_uai

PRODUCTION_URL = "https://cfas.apprentissage.beta.gouv.fr/api/"
RECETTE_URL = "https://cfas-recette.apprentissage.beta.gouv.fr/api/"
PREPROD_URL = "https://tableau-de-bord-preprod.apprentissage.beta.gouv.fr/api/"
KNOWN_ENVIRONMENTS = {PRODUCTION_URL: "production", RECETTE_URL: "recette", PREPROD_URL: "preprod"}
Transmission = Literal["export", "erp", "excel"]
"""Who sends an establishment's records: tdba-wizard from the ERP's export (``export``), the
ERP's own job (``erp``), or nobody by API: the centre uploads TDBA's Excel template
(``excel``)."""
SOURCE_PLACEHOLDERS = frozenset({"sentite", "uai", "siret"})
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ConfigError(TdbaError):
    """The configuration file is missing, unreadable, malformed or invalid."""

    title = "Configuration invalide"


class ConfigNotFoundError(ConfigError):
    """No configuration file at the expected place."""

    title = "Aucune configuration"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_api_url(raw: str) -> str:
    """Return the API root URL with a trailing slash; https only, plain http on loopback."""
    url = raw.strip()
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError(
            "adresse de l'API invalide : elle doit commencer par https:// "
            f"(exemple : {PRODUCTION_URL})"
        )
    if parts.scheme == "http" and not _is_loopback(host):
        raise ValueError(
            "l'adresse de l'API doit être en https:// (le http non chiffré n'est accepté que "
            "pour le bac à sable local, 127.0.0.1 ou localhost)"
        )
    if parts.query or parts.fragment:
        raise ValueError("l'adresse de l'API ne doit pas contenir de « ? » ni de « # »")
    return url if url.endswith("/") else url + "/"


def _check_siret(value: str) -> str:
    return parse_siret(value)


def _check_uai(value: str) -> str:
    return parse_uai(value)


def check_email(value: str) -> str:
    """Return a trimmed e-mail address, or raise ValueError with a French message."""
    value = value.strip()
    if not _EMAIL.match(value):
        raise ValueError(f"adresse e-mail invalide : « {value} » (exemple : admin@cfa.fr)")
    return value


def check_source_template(value: str | None) -> str | None:
    """Return an export path template (may use {sentite}, {uai}, {siret}), or raise ValueError."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError:
        raise ValueError(
            "modèle de chemin invalide : accolades mal fermées (utilisez {sentite}, {uai} "
            "ou {siret})"
        ) from None
    unknown = fields - SOURCE_PLACEHOLDERS
    if unknown:
        raise ValueError(
            f"variable inconnue {{{sorted(unknown)[0]}}} dans le chemin : seules {{sentite}}, "
            "{uai} et {siret} sont permises"
        )
    if "\x00" in value or any(ord(c) < 32 for c in value):
        raise ValueError("caractère de contrôle dans le chemin de l'export")
    try:
        sample = value.format(sentite=1, uai="0000000A", siret="0" * 14)
    except (ValueError, IndexError, KeyError):
        raise ValueError(
            "modèle de chemin invalide : utilisez {sentite}, {uai} ou {siret} tels quels"
        ) from None
    if not Path(sample).expanduser().is_absolute():
        raise ValueError(
            f"le chemin de l'export doit être absolu (commencer par / ou ~/), pas « {value} » : "
            "la tâche de nuit ne part pas du même dossier que vous"
        )
    return value


def check_erp(value: str) -> str:
    """Return an ERP id TDBA knows (lowercase), or raise ValueError listing them."""
    from tdba_wizard import erps

    value = value.strip().lower()
    if value not in erps.BY_ID:
        raise ValueError(f"ERP inconnu « {value} » : identifiants de TDBA : {', '.join(erps.IDS)}")
    return value


Siret = Annotated[str, AfterValidator(_check_siret)]
Uai = Annotated[str, AfterValidator(_check_uai)]
Email = Annotated[str, AfterValidator(check_email)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=True)


class ApiSettings(_Section):
    """Where TDBA is and which ERP the centre declares."""

    url: str = PRODUCTION_URL
    """Root of the TDBA API (production by default; http only for a loopback sandbox)."""
    erp: str = "ammon"
    """ERP identifier as TDBA knows it (ammon, ymag, scform, ...)."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return normalise_api_url(value)

    @field_validator("erp")
    @classmethod
    def _erp(cls, value: str) -> str:
        return check_erp(value)

    @property
    def environment(self) -> str | None:
        """Return the TDBA environment the URL names, or None for a custom URL."""
        return KNOWN_ENVIRONMENTS.get(self.url)


class SmtpSettings(_Section):
    """The mail server that sends the nightly report (its password lives in the keyring)."""

    host: str
    """SMTP server name."""
    port: int = Field(default=587, ge=1, le=65535)
    """SMTP port (587 for STARTTLS, 465 for SSL)."""
    security: Literal["starttls", "ssl", "none"] = "starttls"
    """Transport security; "none" only for a relay on the same machine."""
    username: str | None = None
    """Login, if the server requires one."""
    sender: Email | None = None
    """From address of the report (defaults to the recipient)."""


class ScheduleSettings(_Section):
    """When the nightly job runs and where its report goes."""

    time: str = "23:00"
    """Local time HH:MM of the nightly run, in ``timezone`` (TDBA recommends 23:00)."""
    timezone: str = "Europe/Paris"
    """IANA time zone of ``time``."""
    report_to: Email | None = None
    """E-mail address that receives the nightly report (optional)."""
    smtp: SmtpSettings | None = None
    """Mail server for the report."""

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        match = _TIME.match(value.strip())
        if not match:
            raise ValueError(f"heure invalide « {value} » : format HH:MM attendu (exemple : 23:00)")
        return f"{int(match[1]):02d}:{match[2]}"

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"fuseau horaire inconnu « {value} » (exemple : Europe/Paris)"
            ) from None
        return value


class SyncSettings(_Section):
    """How long the nightly job may take: past a deadline, what is left is stopped and said."""

    deadline_minutes: int = Field(default=240, ge=1, le=1440)
    """The whole run (then the rest waits for the next night)."""
    establishment_deadline_minutes: int = Field(default=60, ge=1, le=1440)
    """One establishment."""


class Establishment(_Section):
    """One establishment (organisme) connected to TDBA, with its own key in the keyring."""

    name: str = Field(min_length=1, max_length=200)
    """Name shown in the wizard and the reports."""
    siret: Siret
    """SIRET, 14 digits, as TDBA knows it."""
    uai: Uai
    """UAI, 7 digits and a check letter, as TDBA knows it."""
    sentite: int | None = Field(default=None, gt=0)
    """CFA_SENTITE: the id of the centre's record in Ammon (Ammon only)."""
    source: str | None = None
    """Export file read by the nightly job; may use {sentite}, {uai}, {siret}."""
    erp: str | None = None
    """The ERP's id as TDBA knows it (None: the one in ``[api] erp``)."""
    transmission: Transmission = "export"
    """Who sends: tdba-wizard from the export, the ERP itself, or an Excel upload."""

    @field_validator("erp")
    @classmethod
    def _erp_id(cls, value: str | None) -> str | None:
        return None if value is None else check_erp(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("le nom ne peut pas être vide")
        return value

    @field_validator("source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        return check_source_template(value)

    def source_path(self) -> Path | None:
        """Return the export path with its placeholders filled in."""
        if self.source is None:
            return None
        filled = self.source.format(sentite=self.sentite, uai=self.uai, siret=self.siret)
        return Path(filled).expanduser()


class Config(_Section):
    """The whole configuration file."""

    schema_version: Literal[1] = 1
    """Version of this file's layout, for future migrations."""
    api: ApiSettings = Field(default_factory=ApiSettings)
    """The TDBA API."""
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    """The nightly job."""
    sync: SyncSettings = Field(default_factory=SyncSettings)
    """The nightly job's deadlines."""
    establishments: list[Establishment] = Field(default_factory=list)
    """The connected establishments."""

    @model_validator(mode="after")
    def _unique_couples(self) -> Config:
        seen: dict[tuple[str, str], int] = {}
        for index, establishment in enumerate(self.establishments, start=1):
            couple = (establishment.uai, establishment.siret)
            if couple in seen:
                raise ValueError(
                    f"les établissements n°{seen[couple]} et n°{index} ont le même couple "
                    f"UAI {couple[0]} / SIRET {couple[1]} : chaque couple ne peut figurer "
                    "qu'une fois"
                )
            seen[couple] = index
        from tdba_wizard import erps

        for index, establishment in enumerate(self.establishments, start=1):
            erp = erps.get(self.erp_of(establishment))
            label = f"l'établissement n°{index} (« {establishment.name} »)"
            if erp.needs_sentite and establishment.sentite is None:
                raise ValueError(
                    f"{label} utilise Ammon : son CFA_SENTITE (l'id de la fiche entreprise du "
                    "CFA dans Ammon) est obligatoire"
                )
            if (
                establishment.source
                and "{sentite}" in establishment.source
                and (establishment.sentite is None)
            ):
                raise ValueError(f"{label} : le chemin de l'export utilise {{sentite}} sans "
                                 "CFA_SENTITE ; mettez {uai} ou {siret} à la place")  # fmt: skip
            if establishment.transmission == "erp" and not erp.api:
                raise ValueError(
                    f"{label} : {erp.name} ne transmet pas par l'API de TDBA ; choisissez "
                    "« export » (tdba-wizard envoie) ou « excel » (import du modèle)"
                )
        exports: dict[str, int] = {}
        for index, establishment in enumerate(self.establishments, start=1):
            if establishment.transmission == "erp":
                continue  # the ERP sends: its export, if any, is not read
            path = establishment.source_path()
            if path is None:
                continue
            key = os.path.normpath(path)
            if key in exports:
                raise ValueError(
                    f"les établissements n°{exports[key]} et n°{index} lisent le même export "
                    f"({key}) : chaque établissement a le sien (mettez {{sentite}} ou {{uai}} "
                    "dans le chemin)"
                )
            exports[key] = index
        return self

    def with_schedule(self, time: str, timezone: str, report_to: str | None = None) -> Config:
        """Return a validated copy with the nightly time, zone and (if given) report address."""
        changes: dict[str, str] = {"time": time, "timezone": timezone}
        if report_to:
            changes["report_to"] = report_to
        data = self.model_dump()
        data["schedule"] = {**data["schedule"], **changes}
        return Config.model_validate(data)

    def erp_of(self, establishment: Establishment) -> str:
        """Return the ERP id of an establishment (its own, else ``[api] erp``)."""
        return establishment.erp or self.api.erp

    def find(self, uai: str, siret: str | None = None) -> list[Establishment]:
        """Return the establishments with this UAI (and SIRET, if given)."""
        return [
            e for e in self.establishments if e.uai == uai and (siret is None or e.siret == siret)
        ]


_TYPE_MESSAGES = {
    "missing": "champ obligatoire manquant",
    "string_type": "texte attendu (entre guillemets)",
    "int_type": "nombre entier attendu",
    "int_parsing": "nombre entier attendu",
    "int_from_float": "nombre entier attendu",
    "bool_type": "true ou false attendu",
    "model_type": "section attendue",
    "model_attributes_type": "section attendue",
    "dict_type": "section attendue",
    "list_type": "liste attendue ([[...]])",
    "string_too_short": "ne peut pas être vide",
}


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]} n°{item + 1}"
        else:
            parts.append(str(item))
    return " → ".join(parts) if parts else "(fichier)"


def describe_validation_error(error: ValidationError) -> list[str]:
    """Return one French line per problem: the field path, then what is wrong."""
    lines = []
    for item in error.errors():
        kind = item["type"]
        ctx: dict[str, Any] = item.get("ctx") or {}
        loc = tuple(item["loc"])
        if kind == "extra_forbidden":
            lines.append(
                f"{_location(loc)} : clé inconnue « {loc[-1]} » — supprimez-la ou corrigez "
                "son orthographe"
            )
            continue
        if kind in ("value_error", "assertion_error") and "error" in ctx:
            message = str(ctx["error"])
        elif kind in ("greater_than", "greater_than_equal"):
            message = f"doit être supérieur à {ctx.get('gt', ctx.get('ge'))}"
        elif kind in ("less_than", "less_than_equal"):
            message = f"doit être inférieur à {ctx.get('lt', ctx.get('le'))}"
        elif kind == "literal_error":
            message = f"valeur attendue : {ctx.get('expected', '')}".replace(" or ", " ou ")
        elif kind == "string_too_long":
            message = f"{ctx.get('max_length')} caractères au plus"
        else:
            message = _TYPE_MESSAGES.get(kind, item["msg"])
        lines.append(f"{_location(loc)} : {message}")
    return lines


def _toml_position(error: tomllib.TOMLDecodeError) -> str:
    match = re.search(r"\(at line (\d+), column (\d+)\)", str(error))
    if match:
        return f"ligne {match[1]}, colonne {match[2]}"
    return "fin du fichier"


def parse_config(text: str, origin: Path) -> Config:
    """Parse and validate the TOML text of a config file, or raise :class:`ConfigError`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        detail = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(error))
        raise ConfigError(
            f"{origin} : erreur de syntaxe TOML ({_toml_position(error)}) : {detail}. "
            "Corrigez le fichier ou supprimez-le pour relancer l'assistant."
        ) from None
    try:
        return Config.model_validate(data)
    except ValidationError as error:
        problems = describe_validation_error(error)
        raise ConfigError(f"{origin} : " + " ; ".join(problems)) from None


def load_config(path: Path) -> Config:
    """Read the config file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigNotFoundError(
            f"Aucune configuration dans {path}. Lancez « tdba-wizard » pour la créer, ou "
            "« tdba-wizard add » pour ajouter un établissement."
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} : le fichier n'est pas encodé en UTF-8.") from None
    except OSError as error:
        raise ConfigError(f"Lecture impossible de {path} : {error.strerror}.") from None
    return parse_config(text, path)


def render_config(config: Config) -> str:
    """Return the TOML text of ``config`` exactly as :func:`save_config` writes it."""
    import tomli_w  # writing only: --check and the nightly job never load it

    data = config.model_dump(mode="json", exclude_none=True)
    establishments = data.pop("establishments")
    chunks = [
        "# Configuration de tdba-wizard. Aucune clé d'API ici : elles sont ailleurs.\n",
        tomli_w.dumps(data),
    ]
    # Written as [[establishments]] blocks (tomli-w would inline short ones), as in the docs.
    for establishment in establishments:
        chunks.append("\n[[establishments]]\n" + tomli_w.dumps(establishment))
    return "".join(chunks)


def save_config(path: Path, config: Config) -> None:
    """Write ``config`` to ``path`` atomically, file 0600 in a 0700 directory."""
    try:
        write_private_atomic(path, render_config(config).encode("utf-8"))
    except OSError as error:
        raise ConfigError(
            f"Écriture impossible de {path} : {error.strerror}. Rien n'a été modifié."
        ) from None

"""What a call to TDBA gives: :class:`Ok`, or a :class:`Failure` with one French explanation
a CFA admin can act on; and what TDBA's answers say (its version, an organisme, a batch's
refusals). No HTTP here: the screens and reports that only look at outcomes load this, not the
client (:mod:`tdba_wizard.api`, which re-exports all of it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

T = TypeVar("T")
SUPPORT = "tableaudebord@apprentissage.beta.gouv.fr"
NetworkCause = Literal["dns", "refused", "timeout", "tls", "proxy", "dropped", "other"]


# -- outcomes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Ok(Generic[T]):
    """A successful call: its value and how long it took."""

    value: T
    latency: float = 0.0

    ok = True


@dataclass(frozen=True)
class Failure:
    """A failed call. ``explanation`` says, in French, what happened and what to do."""

    ok = False
    retryable = False

    @property
    def explanation(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class KeyRefused(Failure):
    """403: the key is missing, malformed, unknown or revoked."""

    server_message: str

    @property
    def explanation(self) -> str:
        return (
            f"TDBA refuse la clé d'échange (« {self.server_message} »). Générez-en une nouvelle "
            "dans TDBA → Paramètres → « Vous avez un ERP ? » → « Générer la clé d'échange », "
            "puis enregistrez-la ici. Une clé est révoquée après 12 mois sans envoi, et chaque "
            "nouvelle génération remplace l'ancienne."
        )


@dataclass(frozen=True)
class OrganismeNotFound(Failure):
    """The UAI+SIRET couple (or the SIRET, or the UAI) is unknown to TDBA."""

    @property
    def explanation(self) -> str:
        return (
            "TDBA ne connaît aucun établissement avec ces identifiants. Vérifiez l'UAI et le "
            "SIRET affichés dans TDBA (Paramètres) : ils doivent être exactement ceux de "
            f"l'établissement. En cas de doute, écrivez à {SUPPORT}."
        )


@dataclass(frozen=True)
class RateLimited(Failure):
    """429: too many requests; ``retry_after`` seconds to wait, if the server said."""

    retry_after: float | None
    retryable = True

    @property
    def explanation(self) -> str:
        wait = f" dans {self.retry_after:g} s" if self.retry_after is not None else " plus tard"
        return f"TDBA limite le nombre de requêtes : nouvel essai possible{wait}."


@dataclass(frozen=True)
class ServerError(Failure):
    """5xx (or another unexpected status with a JSON body): the server failed."""

    status: int
    retryable = True

    @property
    def explanation(self) -> str:
        return (
            f"TDBA a répondu par une erreur interne (HTTP {self.status}). Ce n'est pas dû à "
            "votre configuration : réessayez plus tard ; si cela dure, signalez-le à "
            f"{SUPPORT}."
        )


@dataclass(frozen=True)
class PayloadRefused(Failure):
    """400 or 413 on a send: the request as a whole was refused."""

    status: int
    message: str
    details: tuple[str, ...] = ()

    @property
    def explanation(self) -> str:
        if self.status == 413:
            return (
                "TDBA refuse l'envoi : le lot dépasse 10 Mo. Il faut l'envoyer en lots plus petits."
            )
        detail = f" ({'; '.join(self.details[:3])})" if self.details else ""
        return f"TDBA refuse l'envoi : « {self.message} »{detail}."


@dataclass(frozen=True)
class NetworkFailure(Failure):
    """The request did not get an answer: DNS, refused, timeout, TLS, proxy, dropped."""

    cause: NetworkCause
    host: str
    detail: str = field(default="", compare=False)

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return self.cause in ("timeout", "dropped", "refused", "other")

    @property
    def explanation(self) -> str:
        host = self.host
        texts = {
            "dns": (
                f"Le nom {host} est introuvable (DNS). Vérifiez l'adresse de l'API et la "
                "connexion Internet de ce poste ; derrière un proxy, définissez HTTPS_PROXY."
            ),
            "refused": (
                f"{host} refuse la connexion. Vérifiez l'adresse et le port de l'API ; pour le "
                "bac à sable local, vérifiez qu'il est démarré (« tdba-wizard sandbox »)."
            ),
            "timeout": (
                f"{host} ne répond pas dans le délai. Le réseau ou un pare-feu bloque peut-être "
                "la connexion ; réessayez, ou demandez à votre service informatique si le "
                "proxy de l'établissement doit être configuré (HTTPS_PROXY)."
            ),
            "tls": (
                f"Le certificat de {host} n'a pas pu être vérifié : la connexion n'est pas sûre "
                "et a été interrompue. Si votre établissement inspecte le trafic HTTPS, "
                "demandez à votre service informatique d'installer son certificat racine "
                "(SSL_CERT_FILE) ; ne désactivez jamais la vérification."
            ),
            "proxy": (
                "Le proxy a refusé ou n'a pas pu établir la connexion vers "
                f"{host}. Vérifiez HTTPS_PROXY / NO_PROXY et les identifiants du proxy avec "
                "votre service informatique."
            ),
            "dropped": (
                f"{host} a coupé la connexion avant de répondre. Réessayez ; si cela se "
                "répète, le service est peut-être en maintenance."
            ),
            "other": f"Échange impossible avec {host} ({self.detail}). Réessayez plus tard.",
        }
        return texts[self.cause]


@dataclass(frozen=True)
class UnexpectedAnswer(Failure):
    """An answer that is not what TDBA sends (not JSON, wrong shape, odd status)."""

    status: int
    reason: str

    @property
    def explanation(self) -> str:
        return (
            f"Réponse inattendue (HTTP {self.status}, {self.reason}) : l'adresse de l'API ne "
            "désigne peut-être pas TDBA (elle doit se terminer par /api/), ou un proxy a "
            "répondu à sa place."
        )


Outcome = Ok[T] | Failure


# -- values ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiInfo:
    """What ``GET /api`` says: the name, version and environment of the server."""

    name: str
    version: str
    env: str


@dataclass(frozen=True)
class Organisme:
    """An organisme as TDBA's public look-ups describe it."""

    id: str
    siret: str
    uai: str
    enseigne: str | None
    raison_sociale: str | None
    ferme: bool
    nature: str
    adresse: Mapping[str, Any]

    @property
    def display_name(self) -> str:
        """Return the enseigne, else the raison sociale."""
        return self.enseigne or self.raison_sociale or f"UAI {self.uai}"

    @property
    def address(self) -> str:
        """Return the one-line address."""
        return str(self.adresse.get("complete") or "")


NATURE_LABELS = {
    "responsable": "responsable",
    "formateur": "formateur",
    "responsable_formateur": "responsable et formateur",
    "lieu_formation": "lieu de formation",
    "inconnue": "nature inconnue",
}


@dataclass(frozen=True)
class ItemRejection:
    """One record TDBA refused at once: its position, its ERP id and the messages."""

    index: int
    id_erp_apprenant: str | None
    errors: tuple[tuple[str, str], ...]
    """(field path, message) pairs."""


@dataclass(frozen=True)
class BatchResult:
    """The answer to one sent batch: counts, and the refused items (no learner data)."""

    sent: int
    accepted: int
    rejections: tuple[ItemRejection, ...]

    @property
    def rejected(self) -> int:
        """Return how many items TDBA refused."""
        return len(self.rejections)

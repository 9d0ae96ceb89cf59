"""The ERPs TDBA knows, in its order, and what each one's side of the connection asks.

TDBA is ERP-agnostic on the wire (a Bearer key and v3 records); the ERP matters for three
things: the id in TDBA's confirmation link (``/connexion-api?...&erp=<id>``), where the admin
types the key in the ERP, and whether the ERP sends by API at all. The ids and their order are
TDBA's (``desiredOrder``, ui/app/(cfa)/cfa/parametres/ParametresClient.tsx at 12cb59e9); the
steps are the vendors' procedures TDBA publishes (ui/public/*.pdf: Ammon-2025, Ypareo-2024,
SC-form-2024, Aimaira-2024, Gestibase-2024). For the ERPs whose procedure TDBA does not
publish, the guidance says so instead of inventing menus.
"""

from __future__ import annotations

from dataclasses import dataclass

AMMON = "ammon"
OTHER = "autre"
"""« J'utilise un autre ERP »: no API; the centre uploads TDBA's Excel template."""


@dataclass(frozen=True)
class Erp:
    """One ERP: its id and name, whether it sends by API v3, and its side of the setup."""

    id: str
    name: str
    api: bool = True
    where_key: str = ""
    """Where the admin types the key, in the ERP's own words (one sentence)."""
    steps: tuple[str, ...] = ()
    """The ERP's side, in order, in its menu names (the key and identifiers filled in by the
    sheet: {key}, {uai}, {siret}, {name}, {sentite}, {url})."""
    checks: tuple[str, ...] = ()
    """What the vendor's procedure asks the admin to check."""
    procedure: str | None = None
    """The vendor's procedure TDBA publishes (a file on TDBA's site), when there is one."""

    @property
    def needs_sentite(self) -> bool:
        return self.id == AMMON


_GENERIC_STEPS = (
    "Ouvrez, avec un compte administrateur, le paramétrage de la liaison avec le « Tableau de "
    "bord de l'apprentissage » (ou « Mission apprentissage ») de {erp}.",
    "Collez-y la clé d'échange de l'établissement : {key}.",
    "Vérifiez que l'établissement y porte exactement l'UAI {uai} et le SIRET {siret}.",
    "Activez l'envoi automatique quotidien, s'il ne l'est pas.",
)
_GENERIC_CHECKS = (
    "TDBA ne publie pas la procédure de cet éditeur : en cas de doute, demandez-lui où se "
    "trouve la clé d'échange TDBA (API v3).",
)

ERPS: tuple[Erp, ...] = (
    Erp(
        "ymag",
        "Ypareo",
        where_key="Dans Ypareo, sur la fiche de chaque « Site de formation », champ « Clé "
        "d'API », avec la case « Transmettre les apprenants du site » cochée.",
        steps=(
            "Centre de formation > Sites de formation : sur le site de l'UAI {uai} (SIRET "
            "{siret}), collez la clé d'échange dans « Clé d'API » : {key}.",
            "Sur la même fiche, cochez « Transmettre les apprenants du site ».",
            "Administration > Paramètres, catégorie « Paramétrage » puis « Mission "
            "apprentissage » : cochez le paramètre application relatif à la mission "
            "d'apprentissage.",
            "Centre de formation > Paramétrage des inscriptions > Statuts : les statuts des "
            "apprentis concernés doivent être cochés « Mission Apprentissage » (ceux de "
            "formation longue le sont par défaut).",
            "Administration > YpareoManager > Console YpareoService : la tâche « Envoi de "
            "données vers la Mission Apprentissage » doit être planifiée chaque nuit (sinon, "
            "demandez-la à YMAG) ; son lien « Log » montre ses erreurs.",
        ),
        checks=(
            "L'UAI et le SIRET doivent être identiques dans Ypareo et dans TDBA.",
            "Chaque site de formation dont l'activité doit remonter porte un code UAI.",
        ),
        procedure="Ypareo-2024.pdf",
    ),
    Erp(
        "gesti",
        "Gestibase",
        where_key="Dans Gestibase, champ « Api_Key » du paramétrage de la liaison TDBA.",
        steps=(
            "Collez la clé d'échange dans le champ « Api_Key » : {key}, puis validez.",
            "Menu Établissement > Tableau de bord Apprentissage : l'état des transmissions, "
            "apprenti par apprenti, et le rapport complet de transmission.",
        ),
        checks=(
            "Patientez 24 h avant que les effectifs apparaissent dans TDBA.",
            "Les éléments manquants ou invalides qui bloquent la transmission sont signalés "
            "dans la colonne « État du dossier ».",
        ),
        procedure="Gestibase-2024.pdf",
    ),
    Erp(
        "scform",
        "SC Form",
        where_key="Dans SC Form, Administration > « Gestion des accès aux API Tierces » > "
        "« Mission ministérielle » : une clé par ligne SIRET-UAI.",
        steps=(
            "Avec un compte Administrateur : onglet « Administration » > « Gestion des accès aux "
            "API Tierces » > « Mission ministérielle ».",
            "Sur la ligne SIRET {siret} - UAI {uai}, collez la clé d'échange : {key}.",
        ),
        checks=(
            "Saisir la clé coche « L'autorisation de transfert la nuit » : si rien n'est "
            "transmis, vérifiez que cette case l'est toujours.",
        ),
        procedure="SC-form-2024.pdf",
    ),
    Erp("fcamanager", "FCA Manager", api=False),
    Erp(
        "aimaira",
        "Aimaira",
        where_key="Dans Aimaira, univers Référentiel > Paramètre > « Société de facturation », "
        "onglet Information, champ « Clé d'authentification Tableau de bord de "
        "l'apprentissage ».",
        steps=(
            "Univers Référentiel > menu Paramètre > bouton « Société de facturation ».",
            "Double-cliquez sur la société de facturation de l'UAI {uai} / SIRET {siret}.",
            "Onglet Information, champ « Clé d'authentification Tableau de bord de "
            "l'apprentissage » : {key}.",
            "Une fois la clé renseignée dans Manage, informez le support AIMAIRA par un ticket.",
        ),
        checks=("L'UAI et le SIRET renseignés dans Aimaira sont ceux de TDBA.",),
        procedure="Aimaira-2024.pdf",
    ),
    Erp("cactus", "Cactus"),
    Erp("myclic", "MyClic"),
    Erp("gescicca", "Gessic@ (CNAM)"),
    Erp("formasup", "Formasup", api=False),
    Erp("formasup-hdf", "Formasup Hauts-de-France"),
    Erp("charlemagne", "Charlemagne"),
    Erp(
        AMMON,
        "Ammon",
        where_key="Dans Ammon, « Paramétrage des applications externes » : paramètre "
        "CFA_API_KEY, avec CFA_SENTITE (l'id de la fiche entreprise du CFA), et un "
        "« Paramétrage spécifique » par établissement.",
        steps=(
            "Paramétrage des applications externes > Nouveau : type API_TDBA (Tableau de bord "
            "de l'apprentissage) ; URL de l'API {url} ; Version v3 ; paramètres CFA_API_KEY = "
            "{key} et CFA_SENTITE = {sentite}. Sauvegardez.",
            "Paramétrage spécifique > Nouveau (un par établissement) : Nom = {name} ; "
            "CFA_API_KEY = {key} ; CFA_SENTITE = {sentite} (login et mot de passe non "
            "nécessaires). Sauvegardez.",
            "« Valider la connexion » en bas de la fenêtre : la liste des CFA s'affiche, avec un "
            "lien pour confirmer l'accrochage dans TDBA (facultatif).",
            "Gestionnaire de travaux > Importer : le job « Liaison Tableau de Bord "
            "Apprentissage », puis validez.",
            "Vérifiez le job : tous les jours à 23:00 (expression Quartz 0 0 23 * * ?), comme "
            "TDBA le recommande ; renseignez votre e-mail pour recevoir son rapport. Validez.",
        ),
        checks=(
            "La fiche entreprise du CFA dans Ammon a la catégorie « OF », le SIRET {siret} "
            "(onglet Établissement) et l'UAI {uai} (onglet Organisme de formation), ceux de "
            "TDBA.",
            "Il faut les droits d'administrateur Ammon pour ce paramétrage.",
        ),
        procedure="Ammon-2025.pdf",
    ),
    Erp("ofa-link", "OFA Link"),
    Erp("filiz", "Filiz"),
    Erp("hyperplanning", "Hyperplanning"),
    Erp(OTHER, "Un autre ERP (ou aucun)", api=False),
)
BY_ID = {erp.id: erp for erp in ERPS}
IDS = tuple(BY_ID)
API_IDS = tuple(erp.id for erp in ERPS if erp.api)


def get(erp_id: str) -> Erp:
    """Return an ERP by its id (raises KeyError for an id TDBA does not know)."""
    return BY_ID[erp_id]


def steps_for(erp: Erp) -> tuple[str, ...]:
    """Return the ERP's steps (the generic ones when TDBA publishes no procedure for it)."""
    return erp.steps or tuple(step.replace("{erp}", erp.name) for step in _GENERIC_STEPS)


def checks_for(erp: Erp) -> tuple[str, ...]:
    return erp.checks or _GENERIC_CHECKS


def where_key(erp: Erp) -> str:
    """Say where the key goes in this ERP, in its words."""
    if erp.where_key:
        return erp.where_key
    if not erp.api:
        return (
            f"{erp.name} ne transmet pas par l'API de TDBA : pas de clé d'échange ; "
            "l'établissement importe le modèle Excel de TDBA (« tdba-wizard xlsx » le prépare)."
        )
    return (
        f"Dans {erp.name}, dans le paramétrage de la liaison avec le Tableau de bord de "
        "l'apprentissage (TDBA ne publie pas la procédure de cet éditeur : demandez-lui où "
        "saisir la clé d'échange)."
    )

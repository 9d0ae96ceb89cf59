"""The ERP's side of the connection, as a sheet: what to type into the ERP, in its own words.

``tdba-wizard erp-sheet`` prints it, the wizard's summary shows it. The key is always masked
(``--copy-key`` puts it on the clipboard instead); the confirmation link carries the
establishment's ERP id and no key.
"""

from __future__ import annotations

from urllib.parse import urlencode

from tdba_wizard import erps
from tdba_wizard.config import Config, Establishment
from tdba_wizard.identifiers import mask_api_key

EXCEL_STEPS = (
    "Chaque mois : « tdba-wizard xlsx --uai {uai} --out effectifs.xlsx » prépare le modèle "
    "Excel de TDBA depuis l'export de l'ERP (2 000 lignes au plus par fichier), vérifié avec les "
    "règles de TDBA, et dit ce qui a été écarté.",
    "Dans TDBA, connecté avec le compte de l'établissement : Mes effectifs > « Ajouter via "
    "fichier Excel », puis téléversez le ou les fichiers.",
)


def confirmation_link(config: Config, establishment: Establishment) -> str:
    """TDBA's confirmation page for an establishment, with its ERP id and without the key."""
    root = config.api.url.removesuffix("/").removesuffix("/api")
    query = urlencode(
        {
            "siret": establishment.siret,
            "uai": establishment.uai,
            "erp": config.erp_of(establishment),
        }
    )
    return f"{root}/connexion-api?{query}"


def _values(config: Config, establishment: Establishment, key: str | None) -> dict[str, str]:
    return {
        "key": mask_api_key(key) + " (masquée)" if key else "(clé d'échange non enregistrée ici)",
        "uai": establishment.uai,
        "siret": establishment.siret,
        "name": establishment.name,
        "sentite": str(establishment.sentite) if establishment.sentite is not None else "—",
        "url": config.api.url,
    }


def erp_sheet(
    config: Config, establishments: list[Establishment], keys: dict[tuple[str, str], str | None]
) -> str:
    """Return the sheet of these establishments, grouped by ERP (Ammon's shared part once)."""
    lines: list[str] = []
    by_erp: dict[str, list[Establishment]] = {}
    for establishment in establishments:
        by_erp.setdefault(config.erp_of(establishment), []).append(establishment)
    for erp_id, group in by_erp.items():
        erp = erps.get(erp_id)
        lines.append(f"━━ {erp.name} (identifiant TDBA : {erp.id}) ━━")
        if erp.procedure:
            lines.append(f"Procédure de l'éditeur publiée par TDBA : {erp.procedure}")
        for number, establishment in enumerate(group):
            values = _values(
                config, establishment, keys.get((establishment.uai, establishment.siret))
            )
            lines.append("")
            lines.append(f"« {establishment.name} » — UAI {establishment.uai} · SIRET "
                         f"{establishment.siret}")  # fmt: skip
            if establishment.transmission == "excel" or not erp.api:
                lines.append("  Pas de clé d'échange : cet établissement importe le modèle Excel.")
                for index, step in enumerate(EXCEL_STEPS, start=1):
                    lines.append(f"  {index}. {step.format(**values)}")
                continue
            if establishment.transmission == "export":
                source = establishment.source_path()
                lines.append(
                    f"  C'est tdba-wizard qui envoie, depuis l'export de {erp.name} : rien à "
                    "paramétrer pour TDBA dans l'ERP (ni clé, ni tâche : ne l'activez pas en "
                    "plus, les dossiers partiraient deux fois)."
                )
                lines.append(
                    "  Dans l'ERP : faites produire chaque soir, avant l'envoi de nuit, l'export "
                    f"des apprentis (CSV, XLSX au format du modèle TDBA ou JSON) à : "
                    f"{source or '(chemin à indiquer dans la configuration)'}"
                )
                lines.append(
                    "  Confirmer l'accrochage dans TDBA (facultatif ; ouvrez-le connecté au "
                    "compte de l'établissement) :"
                )
                lines.append(f"   {confirmation_link(config, establishment)}")
                continue
            steps = erps.steps_for(erp)
            if erp.id == erps.AMMON and number > 0:
                steps = steps[1:2]  # the application and the job once; one specific part each
                lines.append("  (l'application externe et le job sont déjà faits : seulement)")
            lines.append(f"  Dans {erp.name} :")
            for index, step in enumerate(steps, start=1):
                lines.append(f"  {index}. {step.format(**values)}")
            lines.append("  À vérifier :")
            for check in erps.checks_for(erp):
                lines.append(f"   • {check.format(**values)}")
            lines.append(
                "  Confirmer l'accrochage dans TDBA (facultatif ; ouvrez-le connecté au compte "
                "de l'établissement) :"
            )
            lines.append(f"   {confirmation_link(config, establishment)}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"

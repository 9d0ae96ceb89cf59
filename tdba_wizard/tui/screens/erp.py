"""Paramètres ERP: the name, CFA_SENTITE and the export the nightly job reads."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from tdba_wizard import erps
from tdba_wizard.config import check_source_template
from tdba_wizard.tui.screens.base import StepScreen
from tdba_wizard.tui.services import Draft
from tdba_wizard.tui.validators import IdentifierValidator
from tdba_wizard.tui.widgets import Field


def _sentite(value: str) -> int:
    text = value.strip()
    if not text.isdigit() or int(text) <= 0:
        raise ValueError(
            "CFA_SENTITE est un nombre entier positif : l'identifiant de la fiche du centre "
            "dans l'ERP."
        )
    return int(text)


def _source(value: str) -> str | None:
    try:
        return check_source_template(value)
    except ValueError as error:
        raise ValueError(f"Chemin de l'export : {error}") from None


def _name(value: str) -> str:
    if not value.strip():
        raise ValueError("Donnez un nom à l'établissement.")
    return value.strip()


class ErpStep(StepScreen):
    """Paramètres ERP."""

    step_title = "Paramètres ERP"
    help_text = (
        "CFA_SENTITE (Ammon seulement) est l'id de la fiche entreprise du CFA dans Ammon, que "
        "sa liaison TDBA demande. Le chemin de l'export est le fichier que l'ERP produit "
        "chaque soir (CSV, XLSX au format du modèle TDBA, ou JSON), absolu ; il peut contenir "
        "{uai}, {siret} (et {sentite} pour Ammon)."
    )

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields this establishment needs: CFA_SENTITE for Ammon only; an export unless
        the ERP sends itself."""
        draft = self.draft
        wanted = ["name"]
        if erps.get(draft.erp).needs_sentite:
            wanted.append("sentite")
        if draft.transmission != "erp":
            wanted.append("source")
        return tuple(wanted)

    def compose_body(self) -> ComposeResult:
        draft = self.draft
        fields = self.fields
        yield Field("Nom de l'établissement", field_id="name", value=draft.name,
                    validator=IdentifierValidator(_name))  # fmt: skip
        if "sentite" in fields:
            yield Field(
                "CFA_SENTITE (l'id de la fiche entreprise du CFA dans Ammon)",
                field_id="sentite",
                value=str(draft.sentite or ""),
                placeholder="ex. 1443191",
                validator=IdentifierValidator(_sentite),
            )
        if "source" in fields:
            example = "{sentite}" if "sentite" in fields else "{uai}"
            label = (
                "Export lu par l'envoi de nuit (facultatif)"
                if draft.transmission == "export"
                else "Export de l'ERP, pour préparer le fichier Excel (facultatif)"
            )
            yield Field(label, field_id="source", value=draft.source or "",
                        placeholder=f"ex. /srv/exports/effectifs-{example}.csv",
                        validator=IdentifierValidator(_source, optional=True))  # fmt: skip
            hint = "Sans export, l'envoi de nuit n'aura rien à transmettre."
            if self.draft.mode == "add" and draft.source:
                hint = ("Chemin repris du modèle du premier établissement ; {sentite}, {uai} "
                        "et {siret} y sont remplacés par ceux de celui-ci.")  # fmt: skip
            yield Static(hint, classes="hint")

    def check(self) -> str | None:
        for field_id in self.fields:
            field = self.query_one(f"#{field_id}-field", Field)
            if field_id != "source" and not field.value.strip():
                return f"{field.label} : champ obligatoire."
            problem = field.error()
            if problem:
                return problem
        return None

    def apply(self, draft: Draft) -> None:
        fields = self.fields
        draft.name = _name(self.query_one("#name-field", Field).value)
        draft.sentite = (_sentite(self.query_one("#sentite-field", Field).value)
                         if "sentite" in fields else None)  # fmt: skip
        draft.source = (_source(self.query_one("#source-field", Field).value)
                        if "source" in fields else None)  # fmt: skip

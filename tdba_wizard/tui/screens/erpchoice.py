"""Votre ERP: which one the establishment uses, and who sends its records."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Label, Select, Static

from tdba_wizard import erps
from tdba_wizard.config import Transmission
from tdba_wizard.tui.screens.base import StepScreen
from tdba_wizard.tui.services import Draft
from tdba_wizard.tui.widgets import Choice, Choices

LABELS: dict[Transmission, str] = {
    "export": "tdba-wizard envoie chaque nuit, depuis l'export de l'ERP",
    "erp": "Mon ERP envoie lui-même (tdba-wizard prépare et surveille)",
    "excel": "Import du modèle Excel dans TDBA (pas d'API)",
}


def guidance(erp: erps.Erp, transmission: Transmission) -> str:
    """Say, in the ERP's words, what this choice means for the admin."""
    if transmission == "excel":
        return (
            "Pas de clé d'échange : chaque mois, « tdba-wizard xlsx » prépare le modèle Excel "
            "de TDBA depuis l'export, à téléverser dans TDBA."
        )
    where = erps.where_key(erp)
    if transmission == "erp":
        return f"La clé d'échange ira dans l'ERP. {where} Le récapitulatif donnera la fiche."
    return (
        "La clé reste ici (trousseau) ; tdba-wizard lit l'export que l'ERP produit et l'envoie "
        f"chaque nuit. {'Ammon : son CFA_SENTITE sera demandé. ' if erp.needs_sentite else ''}"
    )


class ErpChoiceStep(StepScreen):
    """Votre ERP."""

    step_title = "Votre ERP"
    help_text = (
        "TDBA connaît une quinzaine d'ERP ; le choix sert au lien de confirmation, et à dire "
        "où l'ERP garde la clé. Trois façons d'envoyer : tdba-wizard lit l'export de l'ERP et "
        "l'envoie chaque nuit ; ou l'ERP envoie lui-même (Ammon, Ypareo, SC Form…) : tdba-wizard "
        "vérifie le côté TDBA, donne la fiche de ce qu'il faut saisir dans l'ERP, puis surveille "
        "la clé ; ou, sans API (FCA Manager, Formasup, autre), l'import du modèle Excel."
    )

    def compose_body(self) -> ComposeResult:
        draft = self.draft
        yield Label("ERP de l'établissement (Entrée pour ouvrir la liste)")
        yield Select(
            [(erp.name, erp.id) for erp in erps.ERPS],
            value=draft.erp,
            allow_blank=False,
            id="erp",
        )
        yield Label("Qui envoie les dossiers à TDBA ?")
        with Choices(id="transmission", compact=True):
            for key, label in LABELS.items():
                yield Choice(label, value=key == draft.transmission, name=key, id=f"by-{key}")
        yield Static("", id="guidance", classes="hint")

    def on_mount(self) -> None:
        self._refresh()

    def on_select_changed(self) -> None:
        self._refresh()

    def on_radio_set_changed(self) -> None:
        self._refresh()

    def _erp(self) -> erps.Erp:
        value = self.query_one("#erp", Select).value
        return erps.get(value if isinstance(value, str) else erps.AMMON)

    def _transmission(self) -> Transmission:
        pressed = self.query_one("#transmission", Choices).pressed_button
        name = pressed.name if pressed is not None else "export"
        return name if name in ("export", "erp", "excel") else "export"  # type: ignore[return-value]

    def _refresh(self) -> None:
        erp = self._erp()
        by_erp = self.query_one("#by-erp", Choice)
        by_erp.disabled = not erp.api
        if not erp.api and by_erp.value:
            self.query_one("#by-excel", Choice).value = True
        self.query_one("#guidance", Static).update(guidance(erp, self._transmission()))

    def check(self) -> str | None:
        if self._transmission() == "erp" and not self._erp().api:
            return f"{self._erp().name} n'envoie pas par l'API : choisissez l'export ou Excel."
        return None

    def apply(self, draft: Draft) -> None:
        draft.erp = self._erp().id
        draft.transmission = self._transmission()

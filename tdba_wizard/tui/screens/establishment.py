"""Établissement: SIRET and UAI, the public TDBA look-up, and "Je confirme"."""

from __future__ import annotations

import contextlib

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from tdba_wizard.identifiers import parse_siret, parse_uai
from tdba_wizard.outcomes import NATURE_LABELS, Failure, Organisme
from tdba_wizard.tui.screens.base import StepScreen
from tdba_wizard.tui.services import Draft
from tdba_wizard.tui.validators import IdentifierValidator
from tdba_wizard.tui.widgets import Field


def describe(organisme: Organisme) -> str:
    """Return what TDBA knows of an establishment, in French."""
    state = "[b red]FERMÉ[/b red]" if organisme.ferme else "ouvert"
    return (
        f"[b]{organisme.display_name}[/b]\n"
        f"Raison sociale : {organisme.raison_sociale or '—'}\n"
        f"Nature : {NATURE_LABELS.get(organisme.nature, organisme.nature)} · {state}\n"
        f"Adresse : {organisme.address or '—'}\n"
        f"UAI {organisme.uai} · SIRET {organisme.siret}"
    )


class EstablishmentStep(StepScreen):
    """Établissement."""

    step_title = "Établissement"
    next_label = "Je confirme"
    help_text = (
        "Le SIRET (14 chiffres) et l'UAI (7 chiffres et une lettre) doivent être exactement "
        "ceux que TDBA connaît pour votre établissement (TDBA → Paramètres). Si vous ne "
        "connaissez que le SIRET, laissez l'UAI vide et lancez la recherche : TDBA propose les "
        "UAI qu'il a pour ce SIRET."
    )

    def compose_body(self) -> ComposeResult:
        with Horizontal(classes="pair"):
            yield Field("SIRET", field_id="siret", value=self.draft.siret,
                        validator=IdentifierValidator(parse_siret))  # fmt: skip
            yield Field("UAI", field_id="uai", value=self.draft.uai,
                        validator=IdentifierValidator(parse_uai, optional=True))  # fmt: skip
        yield Button("Rechercher dans TDBA (Entrée)", id="lookup")
        yield Static("", id="lookup-result", classes="card")
        yield OptionList(id="uai-choices", classes="hidden")

    def on_mount(self) -> None:
        self.query_one("#siret").focus()
        if self.draft.organisme is not None:
            self.query_one("#lookup-result", Static).update(describe(self.draft.organisme))

    def on_input_changed(self) -> None:
        # A new identifier invalidates an earlier confirmation.
        organisme = self.draft.organisme
        siret, uai = self._values()
        if organisme is not None and (organisme.siret, organisme.uai) != (siret, uai):
            self.draft.organisme = None
            self.query_one("#lookup-result", Static).update("")

    def _values(self) -> tuple[str, str]:
        siret = self.query_one("#siret-field", Field).value
        uai = self.query_one("#uai-field", Field).value
        with contextlib.suppress(ValueError):
            siret = parse_siret(siret)
        with contextlib.suppress(ValueError):
            uai = parse_uai(uai) if uai.strip() else ""
        return siret, uai

    def action_next(self) -> None:
        """Enter looks the couple up first; once TDBA has confirmed it, Enter confirms."""
        if self.draft.organisme is None:
            self.start_lookup()
        else:
            super().action_next()

    @on(Button.Pressed, "#lookup")
    def pressed_lookup(self, event: Button.Pressed) -> None:
        event.stop()
        self.start_lookup()

    def start_lookup(self) -> None:
        siret_field = self.query_one("#siret-field", Field)
        uai_field = self.query_one("#uai-field", Field)
        problem = siret_field.error() or (uai_field.error() if uai_field.value.strip() else None)
        if problem:
            self.show_error(problem)
            return
        self.show_error(None)
        self.query_one("#lookup-result", Static).update("Recherche dans TDBA…")
        siret, uai = self._values()
        self.look_up(siret, uai)

    @work(exclusive=True, exit_on_error=False)
    async def look_up(self, siret: str, uai: str) -> None:
        services = self.wizard.services
        result = self.query_one("#lookup-result", Static)
        choices = self.query_one("#uai-choices", OptionList)
        choices.add_class("hidden")
        if not uai:
            found = await services.uais_for_siret(self.draft.api_url, siret)
            if isinstance(found, Failure):
                result.update(f"[b]Aucun résultat.[/b] {found.explanation}")
                return
            choices.clear_options()
            choices.add_options(
                Option(f"{o.uai} — {o.display_name}" + (" (fermé)" if o.ferme else ""), id=o.uai)
                for o in found.value
            )
            choices.remove_class("hidden")
            choices.highlighted = 0
            result.update(f"TDBA connaît {len(found.value)} UAI pour ce SIRET : choisissez.")
            choices.focus()
            return
        outcome = await services.look_up(self.draft.api_url, uai, siret)
        if isinstance(outcome, Failure):
            self.draft.organisme = None
            result.update(f"[b]Établissement non confirmé.[/b] {outcome.explanation}")
            return
        self.draft.organisme = outcome.value
        text = describe(outcome.value)
        if outcome.value.ferme:
            text += (
                "\n[b]TDBA indique cet établissement comme fermé :[/b] vérifiez l'UAI et le "
                "SIRET ; un établissement fermé ne peut pas être raccordé."
            )
        else:
            text += "\nSi ce sont bien vos informations : « Je confirme » (Entrée)."
            self.query_one("#next", Button).focus()
        result.update(text)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        uai_field = self.query_one("#uai-field", Field)
        uai_field.input.value = event.option.id or ""
        self.query_one("#uai-choices", OptionList).add_class("hidden")
        self.start_lookup()

    def check(self) -> str | None:
        organisme = self.draft.organisme
        if organisme is None:
            return "Lancez la recherche dans TDBA et vérifiez l'établissement trouvé."
        if organisme.ferme:
            return "Cet établissement est fermé dans TDBA : il ne peut pas être raccordé."
        return None

    def apply(self, draft: Draft) -> None:
        assert draft.organisme is not None
        draft.siret, draft.uai = draft.organisme.siret, draft.organisme.uai
        if not draft.name:
            draft.name = draft.organisme.display_name

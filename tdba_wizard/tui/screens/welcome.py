"""Accueil: what is needed, the TDBA link, and the environment."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.widgets import Button, RadioSet, Static
from textual.worker import Worker

from tdba_wizard.config import normalise_api_url
from tdba_wizard.outcomes import Failure
from tdba_wizard.tui.screens.base import StepScreen
from tdba_wizard.tui.services import ENVIRONMENTS, Draft
from tdba_wizard.tui.validators import IdentifierValidator
from tdba_wizard.tui.widgets import Choice, Choices, Field


def _url(value: str) -> str:
    return normalise_api_url(value)


class WelcomeStep(StepScreen):
    """Accueil."""

    step_title = "Accueil"
    help_text = (
        "Cet assistant relie votre établissement au Tableau de bord de l'apprentissage (TDBA) : "
        "clé d'échange, SIRET et UAI, CFA_SENTITE, test de connexion, envoi de nuit.\n\n"
        "Production : le vrai TDBA. Recette : l'environnement d'essai de TDBA (une clé de "
        "production n'y marche pas). Bac à sable : une copie locale, sans compte, pour essayer."
    )

    def compose_body(self) -> ComposeResult:
        yield Static(
            "Pour raccorder votre établissement au [b]Tableau de bord de l'apprentissage[/b] : "
            "un compte TDBA (cfas.apprentissage.beta.gouv.fr), les droits d'administration de "
            "votre ERP, environ 20 minutes. Rien n'est enregistré avant la dernière étape.\n"
            "Quel TDBA joindre ? (flèches, puis Entrée)"
        )
        sandbox = self.wizard.sandbox_url
        choices = [("production", "Production (TDBA réel)"), ("recette", "Recette (essais TDBA)")]
        if sandbox:
            choices.insert(0, ("sandbox", "Bac à sable local (démonstration)"))
        choices.append(("custom", "Autre adresse"))
        current = self._current_choice()
        with Choices(id="environment", compact=True):
            for key, label in choices:
                yield Choice(label, value=key == current, name=key, id=f"env-{key}")
        yield Field(
            "Adresse de l'API",
            field_id="custom-url",
            value=self.draft.api_url if current == "custom" else "",
            placeholder="ex. https://cfas.apprentissage.beta.gouv.fr/api/",
            validator=IdentifierValidator(_url, optional=True),
            classes="" if current == "custom" else "hidden",
        )
        if sandbox:
            yield Static(self.wizard.sandbox_help, classes="hint")

    def _current_choice(self) -> str:
        if self.wizard.sandbox_url and self.draft.api_url == self.wizard.sandbox_url:
            return "sandbox"
        for key, url in ENVIRONMENTS.items():
            if url == self.draft.api_url:
                return key
        return "custom"

    def _choice(self) -> str:
        pressed = self.query_one("#environment", RadioSet).pressed_button
        return pressed.name if pressed is not None and pressed.name else "production"

    def check(self) -> str | None:
        if self._choice() == "custom":
            field = self.query_one("#custom-url-field", Field)
            if not field.value.strip():
                return "Indiquez l'adresse de l'API (elle se termine par /api/)."
            return field.error()
        return None

    def on_choices_submitted(self) -> None:
        if self._choice() != "custom":
            self.action_next()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        custom = event.pressed.name == "custom"
        self.query_one("#custom-url-field", Field).set_class(not custom, "hidden")
        self.show_error(None)
        if custom:
            self.query_one("#custom-url").focus()

    def action_next(self) -> None:
        """An address typed by hand is asked first whether it answers like TDBA's API."""
        if self._choice() != "custom":
            super().action_next()
            return
        message = self.check()
        self.show_error(message)
        if message is None:
            self.query_one("#next", Button).disabled = True
            self.show_error("Vérification de l'adresse…")
            self.probe_url(_url(self.query_one("#custom-url-field", Field).value))

    @work(exclusive=True, exit_on_error=False)
    async def probe_url(self, url: str) -> None:
        outcome = await self.wizard.services.probe(url)
        self.query_one("#next", Button).disabled = False
        if isinstance(outcome, Failure):
            self.show_error(
                f"{url} ne répond pas comme l'API TDBA : {outcome.explanation} L'adresse de "
                "l'API se termine par /api/ (ex. https://cfas.apprentissage.beta.gouv.fr/api/)."
            )
            return
        self.show_error(None)
        super().action_next()

    def worker_failed(self, worker: Worker[object]) -> None:
        self.query_one("#next", Button).disabled = False
        self.show_error(None)

    def apply(self, draft: Draft) -> None:
        choice = self._choice()
        if choice == "sandbox" and self.wizard.sandbox_url:
            draft.api_url = self.wizard.sandbox_url
        elif choice == "custom":
            draft.api_url = _url(self.query_one("#custom-url-field", Field).value)
        else:
            draft.api_url = ENVIRONMENTS.get(choice, draft.api_url)

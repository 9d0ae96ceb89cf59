"""Récapitulatif: review what will be written (key masked), save, then say what was saved."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Footer, Static

from tdba_wizard.errors import TdbaError
from tdba_wizard.identifiers import mask_api_key
from tdba_wizard.tui.screens.base import StepScreen
from tdba_wizard.tui.services import Draft, SaveResult


class ReviewStep(StepScreen):
    """Vérification avant enregistrement."""

    step_title = "Vérification"
    next_label = "Enregistrer"
    help_text = (
        "Rien n'a encore été écrit. « Enregistrer » écrit la configuration (sans la clé), "
        "range la clé dans le trousseau, puis installe l'envoi de nuit si vous l'avez choisi. "
        "Échap pour revenir corriger."
    )

    def compose_body(self) -> ComposeResult:
        draft = self.draft
        keyring_problem = self.wizard.services.keyring_problem() if draft.key else None
        if keyring_problem and draft.secret_store == "keyring":
            yield Static(f"[b]⚠ {keyring_problem}[/b]", id="keyring-warning", classes="error")
            yield Checkbox(
                "Garder la clé dans le fichier protégé (lisible par vous seul, 0600) à la place",
                id="use-file",
            )
        where = (
            f"fichier protégé {self.wizard.services.store.credentials_file}"
            if draft.secret_store == "file"
            else self.wizard.services.keyring_description()
        )
        key = mask_api_key(draft.key) if draft.key else "inchangée"
        schedule = (
            f"chaque jour à {draft.schedule_time} (Europe/Paris)"
            if draft.install_schedule
            else "non installé"
        )
        yield Static(
            f"API TDBA : {draft.api_url}\n"
            f"Établissement : [b]{draft.name}[/b]\n"
            f"UAI {draft.uai} · SIRET {draft.siret} · CFA_SENTITE {draft.sentite}\n"
            f"Export : {draft.source or '— (aucun)'}\n"
            f"Clé d'échange : {key}\n"
            f"   rangée dans : {where}\n"
            f"Envoi de nuit : {schedule}"
            + (f", compte rendu à {draft.report_to}" if draft.report_to else "")
            + f"\nConfiguration : {self.wizard.services.config_path}",
            classes="card",
        )

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        # An explicit choice, made here by the admin: never a silent fallback.
        self.draft.secret_store = "file" if event.value else "keyring"

    def check(self) -> str | None:
        if self.draft.key and self.draft.secret_store == "keyring":
            problem = self.wizard.services.keyring_problem()
            if problem:
                return (
                    "Le trousseau est indisponible : cochez le fichier protégé, ou rendez le "
                    "trousseau accessible puis recommencez."
                )
        return None

    def action_next(self) -> None:
        message = self.check()
        if message:
            self.show_error(message)
            return
        self.query_one("#next", Button).disabled = True
        self.show_error("Enregistrement…")
        self.save()

    @work(thread=True, exclusive=True)
    def save(self) -> None:
        try:
            result = self.wizard.services.save(self.draft)
        except TdbaError as error:
            self.app.call_from_thread(self._failed, error.message)
            return
        self.app.call_from_thread(self.wizard.finish, result)

    def _failed(self, message: str) -> None:
        self.query_one("#next", Button).disabled = False
        self.show_error(f"Rien n'a été enregistré : {message}")


class DoneScreen(Screen[None]):
    """What was saved where, the next run, and what to do next."""

    BINDINGS = [
        Binding("a", "add", "Ajouter un autre établissement"),
        Binding("enter,escape", "finish", "Terminer"),
    ]

    def __init__(self, draft: Draft, result: SaveResult, runs: list[str]) -> None:
        super().__init__()
        self.draft, self.result, self.runs = draft, result, runs

    def compose(self) -> ComposeResult:
        result = self.result
        schedule = (
            f"✔ Envoi de nuit installé : {result.schedule}\n"
            + "\n".join(f"   • {run}" for run in self.runs[:2])
            if result.schedule
            else f"⚠ {result.schedule_problem}"
            if result.schedule_problem
            else "Envoi de nuit non installé (« tdba-wizard schedule install » plus tard)."
        )
        yield Static("C'est fait — Récapitulatif", classes="step-title")
        with VerticalScroll(classes="step-body"):
            yield Static(
                f"✔ « {self.draft.name} » est raccordé à TDBA.\n"
                f"✔ Configuration : {result.config_path}\n"
                f"✔ Clé d'échange rangée dans : {result.key_location}\n"
                f"{schedule}\n\n"
                "Pour vérifier à tout moment : [b]tdba-wizard --check[/b]\n"
                "Dans TDBA, le tableau de bord affichera « Données transmises / Dernière MAJ » "
                "après le premier envoi.",
                classes="card",
            )
        with Horizontal(classes="buttons"):
            yield Button("Ajouter un autre établissement", id="add")
            yield Button("Terminer", id="finish", variant="primary")
        yield Footer()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "add":
            self.action_add()
        else:
            self.action_finish()

    def action_add(self) -> None:
        from tdba_wizard.tui.app import WizardApp

        assert isinstance(self.app, WizardApp)
        self.app.start_flow("add")

    def action_finish(self) -> None:
        from tdba_wizard.tui.app import WizardApp

        assert isinstance(self.app, WizardApp)
        self.app.show_home()

"""Test de connexion: the probe and the key check, with the way back to the step to fix."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, LoadingIndicator, Static

from tdba_wizard.outcomes import Failure, KeyRefused, Ok
from tdba_wizard.tui.screens.base import StepScreen


class ConnectionStep(StepScreen):
    """Test de connexion."""

    step_title = "Test de connexion"
    help_text = (
        "Le test joint l'API TDBA, puis lui présente la clé. En cas d'échec, le message dit "
        "quoi faire et les boutons ramènent à l'étape à corriger.\n\n"
        "« Confirmer l'accrochage » ouvre dans votre navigateur la page TDBA qui enregistre "
        "votre ERP pour cet établissement (facultatif : les données sont acceptées sans). "
        "Sans navigateur sur cette machine (serveur, SSH), « Copier le lien » le met dans le "
        "presse-papiers de votre terminal, sans l'afficher : il contient la clé."
    )

    def compose_body(self) -> ComposeResult:
        yield Static(f"API : {self.draft.api_url}")
        yield LoadingIndicator(id="testing")
        yield Static("Test en cours…", id="result", classes="card")
        with Horizontal(classes="buttons", id="fixes"):
            yield Button("Refaire le test", id="retry")
            yield Button("Corriger la clé", id="fix-key", classes="hidden")
            yield Button("Corriger l'adresse", id="fix-url", classes="hidden")
            yield Button("Confirmer l'accrochage (navigateur)", id="confirm-link", classes="hidden")
            yield Button("Copier le lien", id="copy-link", classes="hidden")

    def on_mount(self) -> None:
        self.run_test()

    @work(exclusive=True, exit_on_error=False)
    async def run_test(self) -> None:
        self.passed = False
        draft = self.draft
        indicator = self.query_one("#testing", LoadingIndicator)
        indicator.display = True
        result = self.query_one("#result", Static)
        result.update("Test en cours : joindre TDBA, puis vérifier la clé…")
        for button in ("#fix-key", "#fix-url", "#confirm-link", "#copy-link"):
            self.query_one(button).add_class("hidden")
        services = self.wizard.services
        if not draft.key and draft.editing is not None and not draft.current_key:
            draft.current_key = await asyncio.to_thread(services.current_key, draft.editing)
        if not draft.test_key:
            indicator.display = False
            result.update("[b]✖ Aucune clé à tester :[/b] la clé enregistrée est illisible. "
                          "Collez-la à nouveau.")  # fmt: skip
            self._offer("#fix-key")
            return
        outcome = await services.test_connection(draft.api_url, draft.test_key)
        indicator.display = False
        if isinstance(outcome.probe, Failure):
            result.update(f"[b]✖ TDBA injoignable.[/b] {outcome.probe.explanation}")
            self._offer("#fix-url")
            return
        assert isinstance(outcome.probe, Ok)
        info = outcome.probe.value
        if isinstance(outcome.key, Failure):
            result.update(
                f"✔ TDBA répond (environnement [b]{info.env}[/b]).\n"
                f"[b]✖ Clé refusée.[/b] {outcome.key.explanation}"
            )
            self._offer("#fix-key" if isinstance(outcome.key, KeyRefused) else "#fix-url")
            return
        self.passed = True
        result.update(
            f"✔ TDBA répond : environnement [b]{info.env}[/b] (version {info.version}).\n"
            "✔ La clé d'échange est acceptée.\n"
            "Vous pouvez confirmer l'accrochage dans TDBA (facultatif), puis continuer."
        )
        self.query_one("#confirm-link").remove_class("hidden")
        self.query_one("#copy-link").remove_class("hidden")
        self.query_one("#next", Button).focus()
        self.show_error(None)

    def _offer(self, button: str) -> None:
        """Show the button that leads to the step to fix, and put the focus on it."""
        widget = self.query_one(button, Button)
        widget.remove_class("hidden")
        widget.focus()

    @on(Button.Pressed, "#retry")
    def retry(self) -> None:
        self.run_test()

    @on(Button.Pressed, "#fix-key")
    def fix_key(self) -> None:
        if "KeyStep" in [step.__name__ for step in self.wizard.flow]:
            self.wizard.go_to_step("KeyStep")

    @on(Button.Pressed, "#fix-url")
    def fix_url(self) -> None:
        if "WelcomeStep" in [step.__name__ for step in self.wizard.flow]:
            self.wizard.go_to_step("WelcomeStep")
        else:
            self.notify("L'adresse de l'API se change avec « tdba-wizard add --api-url » ou "
                        "dans la configuration.", severity="warning")  # fmt: skip

    def confirmation_link(self) -> str:
        """Return TDBA's confirmation page for this establishment. It carries the key: it
        goes to the browser or the clipboard only, never to the screen or a log."""
        draft = self.draft
        root = draft.api_url.removesuffix("/").removesuffix("/api")
        query = urlencode(
            {"siret": draft.siret, "uai": draft.uai, "erp": draft.erp, "api_key": draft.test_key}
        )
        return f"{root}/connexion-api?{query}"

    @on(Button.Pressed, "#confirm-link")
    def confirm_link(self) -> None:
        self.open_confirmation()

    @work(thread=True, exit_on_error=False)
    def open_confirmation(self) -> None:
        import webbrowser  # loaded when a browser is asked for, not at start

        opened = webbrowser.open(self.confirmation_link())
        self.app.call_from_thread(
            self.notify,
            "Page de confirmation ouverte dans le navigateur."
            if opened
            else "Aucun navigateur sur cette machine : « Copier le lien », puis collez-le dans "
            "le navigateur de votre poste.",
        )

    @on(Button.Pressed, "#copy-link")
    def copy_link(self) -> None:
        # OSC 52: the terminal (even over SSH) puts it in the clipboard of the admin's computer.
        self.app.copy_to_clipboard(self.confirmation_link())
        self.notify(
            "Lien copié dans le presse-papiers (si votre terminal le permet) : collez-le dans "
            "votre navigateur. Il contient la clé : ne le partagez pas."
        )

    def check(self) -> str | None:
        if not getattr(self, "passed", False):
            return "Le test de connexion doit réussir avant de continuer."
        return None

"""Test de connexion: the probe and the key check, with the way back to the step to fix."""

from __future__ import annotations

import webbrowser
from urllib.parse import urlencode

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, LoadingIndicator, Static

from tdba_wizard.api import Failure, KeyRefused, Ok
from tdba_wizard.tui.screens.base import StepScreen


class ConnectionStep(StepScreen):
    """Test de connexion."""

    step_title = "Test de connexion"
    help_text = (
        "Le test joint l'API TDBA, puis lui présente la clé. En cas d'échec, le message dit "
        "quoi faire et les boutons ramènent à l'étape à corriger.\n\n"
        "« Confirmer l'accrochage » ouvre dans votre navigateur la page TDBA qui enregistre "
        "votre ERP pour cet établissement (facultatif : les données sont acceptées sans)."
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

    def on_mount(self) -> None:
        self.run_test()

    @work(exclusive=True)
    async def run_test(self) -> None:
        self.passed = False
        indicator = self.query_one("#testing", LoadingIndicator)
        indicator.display = True
        result = self.query_one("#result", Static)
        result.update("Test en cours : joindre TDBA, puis vérifier la clé…")
        for button in ("#fix-key", "#fix-url", "#confirm-link"):
            self.query_one(button).add_class("hidden")
        outcome = await self.wizard.services.test_connection(
            self.draft.api_url, self.draft.test_key
        )
        indicator.display = False
        if isinstance(outcome.probe, Failure):
            result.update(f"[b]✖ TDBA injoignable.[/b] {outcome.probe.explanation}")
            self.query_one("#fix-url").remove_class("hidden")
            return
        assert isinstance(outcome.probe, Ok)
        info = outcome.probe.value
        if isinstance(outcome.key, Failure):
            result.update(
                f"✔ TDBA répond (environnement [b]{info.env}[/b]).\n"
                f"[b]✖ Clé refusée.[/b] {outcome.key.explanation}"
            )
            self.query_one(
                "#fix-key" if isinstance(outcome.key, KeyRefused) else "#fix-url"
            ).remove_class("hidden")
            return
        self.passed = True
        result.update(
            f"✔ TDBA répond : environnement [b]{info.env}[/b] (version {info.version}).\n"
            "✔ La clé d'échange est acceptée.\n"
            "Vous pouvez confirmer l'accrochage dans TDBA (facultatif), puis continuer."
        )
        self.query_one("#confirm-link").remove_class("hidden")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        target = event.button.id
        if target == "retry":
            self.run_test()
        elif target == "fix-key":
            self.wizard.go_to_step("KeyStep")
        elif target == "fix-url":
            self.wizard.go_to_step("WelcomeStep")
        elif target == "confirm-link":
            self._open_confirmation()
        else:
            super().on_button_pressed(event)
            return
        event.stop()

    def _open_confirmation(self) -> None:
        draft = self.draft
        root = draft.api_url.removesuffix("/").removesuffix("/api")
        query = urlencode(
            {"siret": draft.siret, "uai": draft.uai, "erp": "ammon", "api_key": draft.key}
        )
        # The URL carries the key: it goes to the browser only, never to the screen or a log.
        opened = webbrowser.open(f"{root}/connexion-api?{query}")
        self.notify(
            "Page de confirmation ouverte dans le navigateur."
            if opened
            else "Aucun navigateur disponible : confirmez depuis TDBA → Paramètres.",
        )

    def check(self) -> str | None:
        if not getattr(self, "passed", False):
            return "Le test de connexion doit réussir avant de continuer."
        return None

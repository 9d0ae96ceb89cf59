"""Clé d'échange: how to get it, a password field that accepts a messy paste."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label, Select, Static

from tdba_wizard import erps
from tdba_wizard.identifiers import mask_api_key, parse_api_key
from tdba_wizard.tui.screens.base import StepScreen
from tdba_wizard.tui.services import Draft
from tdba_wizard.tui.validators import IdentifierValidator
from tdba_wizard.tui.widgets import Field


class KeyStep(StepScreen):
    """Clé d'échange."""

    step_title = "Clé d'échange"
    help_text = (
        "La clé d'échange se génère dans TDBA : Paramètres → « Vous avez un ERP ? » → "
        "choisissez votre ERP → « Générer la clé d'échange » → « Copier la clé ».\n\n"
        "Elle est gardée dans le trousseau du système. Sur un serveur, où l'envoi de nuit ne "
        "peut pas joindre le trousseau, la vérification finale vous proposera de la garder "
        "plutôt dans un fichier protégé, lisible par vous seul (0600) : c'est vous qui "
        "choisissez, rien ne bascule sans vous.\n\n"
        "Générer une nouvelle clé dans TDBA remplace l'ancienne ; une clé sans envoi pendant "
        "12 mois est révoquée."
    )
    BINDINGS = [*StepScreen.BINDINGS, Binding("ctrl+r", "reveal", "Afficher/masquer")]

    def compose_body(self) -> ComposeResult:
        erp = erps.get(self.draft.erp)
        yield Static(
            f"Dans TDBA : [b]Paramètres[/b] → « Vous avez un ERP ? » → [b]{erp.name}[/b] → "
            "« Générer la clé d'échange » → « Copier la clé ». Collez-la ici (Ctrl+V ; les "
            "espaces et guillemets autour sont retirés)."
        )
        if self.draft.transmission == "erp":
            yield Static(f"Elle ira aussi dans l'ERP : {erps.where_key(erp)}", classes="hint",
                         markup=False)  # fmt: skip
        editing = self.draft.editing is not None
        yield Field(
            "Clé d'échange" + (" (laisser vide pour garder la clé actuelle)" if editing else ""),
            field_id="key",
            password=True,
            placeholder="collez la clé ici (Ctrl+V)",
            validator=IdentifierValidator(parse_api_key, optional=editing),
        )
        yield Static("", id="masked", classes="hint")
        if self.wizard.demos:
            yield Label("Bac à sable : prendre la clé de démonstration de…")
            yield Select(
                [(demo.name, index) for index, demo in enumerate(self.wizard.demos)],
                id="demo",
                prompt="choisir un établissement de démonstration",
            )

    def on_select_changed(self, event: Select.Changed) -> None:
        if not isinstance(event.value, int):
            return
        demo = self.wizard.demos[event.value]
        self.draft.key = demo.key
        self.draft.siret, self.draft.uai = demo.siret, demo.uai
        self.query_one("#masked", Static).update(f"Clé acceptée : {mask_api_key(demo.key)}")

    def on_mount(self) -> None:
        if self.draft.key:
            self.query_one("#masked", Static).update(
                f"Clé acceptée : {mask_api_key(self.draft.key)}"
            )
        self.query_one("#key").focus()

    def action_reveal(self) -> None:
        field = self.query_one("#key-field", Field)
        field.input.password = not field.input.password

    def check(self) -> str | None:
        field = self.query_one("#key-field", Field)
        if not field.value.strip():
            if self.draft.key or self.draft.editing is not None:
                return None
            return "Collez la clé d'échange copiée dans TDBA."
        return field.error()

    def apply(self, draft: Draft) -> None:
        field = self.query_one("#key-field", Field)
        if field.value.strip():
            draft.key = parse_api_key(field.value)
            field.input.value = ""  # the screen keeps no copy once it is in the draft
        self.query_one("#masked", Static).update(
            f"Clé acceptée : {mask_api_key(draft.key)}" if draft.key else ""
        )

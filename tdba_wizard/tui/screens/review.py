"""Vérification: the plan (what ``--dry-run`` would print), where the key lives, then what was
done and what is missing."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, LoadingIndicator, RadioSet, Static
from textual.worker import Worker

from tdba_wizard.tui.screens.base import QUIT, StepScreen, WorkerFailures
from tdba_wizard.tui.services import Draft, Fix, Missing, Mode, Preparation, SaveResult
from tdba_wizard.tui.widgets import Choice, Choices


def choice_text(preparation: Preparation) -> str:
    """Say once, in two or three lines, why the admin must choose where the key lives."""
    places, names = preparation.places, [e.name for e in preparation.at_stake]
    whose = f"la clé de « {names[0]} »" if len(names) == 1 else f"les {len(names)} clés"
    if places.keyring is None:
        why = places.keyring_problem or "le trousseau du système n'est pas utilisable ici."
    elif places.cron is not None and places.cron.reachable is False:
        why = f"L'envoi de nuit ne pourra pas lire le trousseau. {places.cron.message}"
    else:
        message = places.cron.message if places.cron is not None else "non vérifiable"
        why = f"Impossible de savoir si l'envoi de nuit pourra lire le trousseau ({message})."
    return f"[b]Où garder {whose} ?[/b] {why}"


class ReviewStep(StepScreen):
    """Vérification avant enregistrement."""

    step_title = "Vérification"
    next_label = "Enregistrer"
    help_text = (
        "Rien n'a encore été écrit. Le cadre montre exactement ce que « Enregistrer » fera "
        "(le même texte que « --dry-run » en ligne de commande). La clé est gardée dans le "
        "trousseau du système ; quand l'envoi de nuit ne pourrait pas l'y lire (serveur sans "
        "session de bureau), vous choisissez ici : le fichier protégé (lisible par vous seul), "
        "ou le trousseau sans envoi de nuit possible. Échap pour revenir corriger."
    )

    def compose_body(self) -> ComposeResult:
        yield LoadingIndicator(id="preparing")
        with Vertical(id="choice", classes="hidden"):
            yield Static("", id="choice-text")
            with Choices(id="store-choice", compact=True):
                yield Choice("", id="store-file", name="file")
                yield Choice("", id="store-keyring", name="keyring")
        yield Static("Préparation du récapitulatif…", id="plan", markup=False)

    def on_mount(self) -> None:
        self.preparation: Preparation | None = None
        self.prepare()

    @work(thread=True, exclusive=True, group="prepare", exit_on_error=False)
    def prepare(self) -> None:
        preparation = self.wizard.services.prepare(self.draft)
        self.app.call_from_thread(self._prepared, preparation)

    def _prepared(self, preparation: Preparation) -> None:
        self.preparation = preparation
        self.query_one("#preparing", LoadingIndicator).display = False
        choice = self.query_one("#choice", Vertical)
        if preparation.choice_needed:
            plural = len(preparation.at_stake) > 1
            them = "les" if plural else "la"
            self.query_one("#choice-text", Static).update(choice_text(preparation))
            self.query_one(
                "#store-file", Choice
            ).label = f"Fichier protégé, lisible par vous seul : l'envoi de nuit {them} lira"
            keyring = self.query_one("#store-keyring", Choice)
            if preparation.places.keyring is None:
                keyring.label = "Trousseau du système : indisponible ici"
                keyring.disabled = True
            else:
                keyring.label = (f"Trousseau du système : l'envoi de nuit ne pourra pas "
                                 f"{them} lire")  # fmt: skip
            if choice.has_class("hidden"):
                choice.remove_class("hidden")
                self.query_one("#store-choice", RadioSet).focus()
        else:
            choice.add_class("hidden")
            self.query_one("#next", Button).focus()
        plan = self.query_one("#plan", Static)
        if preparation.review is None:
            plan.update("Choisissez d'abord où garder la clé : le récapitulatif suivra.")
        else:
            plan.update(preparation.review.text)
        if getattr(self, "_error_shown", False):
            self.show_error(self.check())

    @on(RadioSet.Changed, "#store-choice")
    def chose_store(self, event: RadioSet.Changed) -> None:
        # An explicit choice, made here by the admin: never a silent fallback.
        self.draft.secret_store = "file" if event.pressed.name == "file" else "keyring"
        self.query_one("#plan", Static).update("Mise à jour du récapitulatif…")
        self.prepare()

    def worker_failed(self, worker: Worker[object]) -> None:
        self.query_one("#preparing", LoadingIndicator).display = False
        self.query_one("#next", Button).disabled = False
        if worker.group == "prepare":
            self.query_one("#plan", Static).update(
                "Le récapitulatif n'a pas pu être établi : rien ne sera enregistré. Échap pour "
                "revenir corriger."
            )
            self.preparation = None
        else:
            self.show_error("Rien n'a été enregistré.")

    def check(self) -> str | None:
        preparation = self.preparation
        if preparation is None:
            return "Le récapitulatif n'est pas prêt : rien ne peut être enregistré."
        if preparation.choice_needed and self.draft.secret_store is None:
            return "Choisissez où garder la clé (ci-dessus) avant d'enregistrer."
        if preparation.review is None:
            return "Le récapitulatif se met à jour ; un instant."
        return None

    def action_next(self) -> None:
        message = self.check()
        self.show_error(message)
        if message is not None or self.preparation is None or self.preparation.review is None:
            return
        self.query_one("#next", Button).disabled = True
        self.show_error("Enregistrement…")
        self.save(self.preparation)

    @work(thread=True, exclusive=True, group="save", exit_on_error=False)
    def save(self, preparation: Preparation) -> None:
        assert preparation.review is not None
        result = self.wizard.services.save(self.draft, preparation.review.plan)
        self.app.call_from_thread(self.wizard.finish, result)


class SheetModal(ModalScreen[None]):
    """The ERP's side, to read or to copy: the key masked, « Copier la clé » puts it on the
    clipboard (OSC 52, SSH included) without showing it."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Fermer")]

    def __init__(self, text: str, key: str) -> None:
        super().__init__()
        self.text, self.key = text, key

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal sheet"):
            yield Static("[b]Fiche pour l'ERP[/b] (aussi : « tdba-wizard erp-sheet »)",
                         classes="modal-title")  # fmt: skip
            with VerticalScroll(classes="sheet-text"):
                yield Static(self.text, markup=False)
            with Horizontal(classes="buttons"):
                if self.key:
                    yield Button("Copier la clé", id="copy-key")
                yield Button("Fermer", id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    @on(Button.Pressed, "#copy-key")
    def copy_key(self) -> None:
        self.app.copy_to_clipboard(self.key)
        self.notify("Clé copiée dans le presse-papiers (si votre terminal le permet) : collez-la "
                    "dans l'ERP.")  # fmt: skip

    @on(Button.Pressed, "#close")
    def close(self) -> None:
        self.dismiss(None)


FIX_LABELS: dict[Fix, str] = {
    "install-schedule": "Installer l'envoi de nuit",
    "move-to-file": "Clé dans le fichier protégé, puis installer",
}


def done_title(mode: Mode, draft: Draft, result: SaveResult) -> str:
    """Return the summary's title: « C'est fait » only when nothing asked is missing."""
    if mode == "schedule":
        return "Envoi de nuit installé" if not result.missing else "Envoi de nuit : à terminer"
    if result.missing:
        return "Enregistré, mais pas terminé : il reste à faire"
    if draft.transmission == "erp":
        from tdba_wizard import erps

        return f"Côté TDBA, c'est fait — reste le côté {erps.get(draft.erp).name}"
    if mode == "edit":
        return f"C'est fait — « {draft.name} » modifié"
    return f"C'est fait — « {draft.name} » raccordé à TDBA"


class DoneScreen(WorkerFailures, Screen[None]):
    """What was done, what is missing (each with the button that fixes it), the next runs."""

    BINDINGS = [
        QUIT,
        Binding("escape", "finish", "Terminer"),
        Binding("a", "add", "Ajouter un autre"),
    ]

    def __init__(self, draft: Draft, mode: Mode, result: SaveResult) -> None:
        super().__init__()
        self.draft, self.mode, self.result = draft, mode, result

    def compose(self) -> ComposeResult:
        result = self.result
        yield Static(done_title(self.mode, self.draft, result), classes="step-title",
                     markup=False)  # fmt: skip
        with VerticalScroll(classes="step-body"):
            lines = []
            if self.mode != "schedule" and self.draft.has_key:
                lines.append("✔ Connexion testée : TDBA a accepté la clé.")
            elif self.mode != "schedule":
                lines.append("✔ Établissement confirmé par la recherche publique de TDBA.")
            lines += [f"✔ {line}" for line in result.done]
            lines += [f"   • {run}" for run in result.runs[:2]]
            lines += [f"• {note}" for note in result.notes]
            yield Static("\n".join(lines), id="done", markup=False)
            for index, missing in enumerate(result.missing):
                yield from self._missing(index, missing)
            yield Static(
                "Pour vérifier à tout moment : tdba-wizard --check ; dans TDBA, « Données "
                "transmises / Dernière MAJ » après le premier envoi.",
                classes="hint",
            )
        yield Static("", id="fixing", classes="error")
        with Horizontal(classes="buttons"):
            if self.mode != "schedule":
                yield Button("Fiche pour l'ERP", id="sheet")
            if self.mode in ("onboarding", "add"):
                yield Button("Ajouter un autre", id="add")
            yield Button("Terminer", id="finish", variant="primary")
        yield Footer()

    def _missing(self, index: int, missing: Missing) -> ComposeResult:
        with Vertical(classes="missing"):
            yield Static(f"✖ {missing.text}", classes="error", markup=False)
            if missing.fix is not None:
                yield Button(FIX_LABELS[missing.fix], id=f"fix-{index}", classes="fix",
                             name=missing.fix)  # fmt: skip

    def on_mount(self) -> None:
        fixes = self.query(".fix")
        (fixes.first() if fixes else self.query_one("#finish")).focus()

    @on(Button.Pressed, ".fix")
    def pressed_fix(self, event: Button.Pressed) -> None:
        event.stop()
        for button in self.query(".fix"):
            button.disabled = True
        self.query_one("#fixing", Static).update("En cours : essai dans l'environnement de "
                                                 "cron, puis installation…")  # fmt: skip
        self.fix(event.button.name or "install-schedule")

    @work(thread=True, exclusive=True, group="fix", exit_on_error=False)
    def fix(self, fix: str) -> None:
        services = self.app.services  # type: ignore[attr-defined]
        outcome = services.move_keys_to_file() if fix == "move-to-file" else (
            services.install_schedule())  # fmt: skip
        self.app.call_from_thread(self._fixed, outcome)

    def _fixed(self, outcome: SaveResult) -> None:
        result = self.result
        self.result = SaveResult(result.done + outcome.done, outcome.missing,
                                 outcome.runs or result.runs, result.notes)  # fmt: skip
        self.call_later(self._redraw)

    async def _redraw(self) -> None:
        await self.recompose()
        self.on_mount()

    def worker_failed(self, worker: Worker[object]) -> None:
        for button in self.query(".fix"):
            button.disabled = False
        self.query_one("#fixing", Static).update("")

    @on(Button.Pressed, "#sheet")
    def show_sheet(self) -> None:
        self.load_sheet()

    @work(thread=True, exclusive=True, group="sheet", exit_on_error=False)
    def load_sheet(self) -> None:
        services = self.app.services  # type: ignore[attr-defined]
        text = services.sheet(self.draft)
        key = self.draft.test_key if self.draft.transmission == "erp" else ""  # into the ERP
        self.app.call_from_thread(self.app.push_screen, SheetModal(text, key))

    @on(Button.Pressed, "#add")
    def action_add(self) -> None:
        if self.mode not in ("onboarding", "add"):
            return
        from tdba_wizard.tui.app import WizardApp

        assert isinstance(self.app, WizardApp)
        self.app.start_flow("add")

    @on(Button.Pressed, "#finish")
    def action_finish(self) -> None:
        from tdba_wizard.tui.app import WizardApp

        assert isinstance(self.app, WizardApp)
        self.app.show_home()

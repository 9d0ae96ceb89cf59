"""The wizard application: flows of steps over one shared draft, and the home screen."""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.worker import Worker, WorkerState

from tdba_wizard.config import Config, ConfigError, Establishment
from tdba_wizard.errors import TdbaError
from tdba_wizard.tui.screens.base import StepScreen
from tdba_wizard.tui.screens.connection import ConnectionStep
from tdba_wizard.tui.screens.erp import ErpStep
from tdba_wizard.tui.screens.erpchoice import ErpChoiceStep
from tdba_wizard.tui.screens.establishment import EstablishmentStep
from tdba_wizard.tui.screens.home import HomeScreen
from tdba_wizard.tui.screens.key import KeyStep
from tdba_wizard.tui.screens.modals import ConfirmModal, ErrorModal
from tdba_wizard.tui.screens.review import DoneScreen, ReviewStep
from tdba_wizard.tui.screens.schedule import ScheduleStep
from tdba_wizard.tui.screens.welcome import WelcomeStep
from tdba_wizard.tui.services import Draft, Mode, SaveResult, WizardServices


def flow_for(mode: Mode, draft: Draft) -> list[type[StepScreen]]:
    """The steps of a flow, for what the draft says so far (no key for an Excel upload, no
    nightly job when the ERP sends)."""
    if mode == "schedule":
        return [ScheduleStep, ReviewStep]
    steps: list[type[StepScreen]] = [WelcomeStep] if mode == "onboarding" else []
    steps.append(ErpChoiceStep)
    if draft.has_key:
        steps.append(KeyStep)
    if mode != "edit":
        steps.append(EstablishmentStep)
    steps.append(ErpStep)
    if draft.has_key:
        steps.append(ConnectionStep)
    if mode == "onboarding" and draft.transmission == "export":
        steps.append(ScheduleStep)
    steps.append(ReviewStep)
    return steps


@dataclass(frozen=True)
class DemoEstablishment:
    """A sandbox organisme a newcomer can pick (its key is never shown)."""

    name: str
    uai: str
    siret: str
    key: str


def describe_failure(error: BaseException | None) -> tuple[str, str]:
    """Return the title and the French text of an error a worker raised (never a key)."""
    if isinstance(error, TdbaError):
        return error.title, error.message
    if isinstance(error, OSError):
        where = f" ({error.filename})" if error.filename else ""
        return "Erreur du système", f"{error.strerror or type(error).__name__}{where}."
    name = type(error).__name__ if error is not None else "inconnue"
    return (
        "Erreur inattendue",
        f"L'opération a échoué ({name}). Rien d'autre n'a été modifié que ce que le "
        "récapitulatif indique ; « tdba-wizard --check » dit où en est la configuration.",
    )


def template_of(establishment: Establishment) -> str | None:
    """Return an establishment's export path if it is a template another one can reuse."""
    source = establishment.source
    if not source:
        return None
    names = {name for _, name, _, _ in string.Formatter().parse(source) if name}
    return source if names else None


class WizardApp(App[None]):
    """tdba-wizard's interactive face."""

    CSS_PATH = "wizard.tcss"
    TITLE = "tdba-wizard"
    BINDINGS: ClassVar[list[Binding]] = [  # type: ignore[assignment]
        # Not a priority binding: each screen shows its own « ^q Quitter » first in the footer.
        Binding("ctrl+q", "request_quit", "Quitter", show=False),
    ]

    def __init__(
        self,
        services: WizardServices,
        *,
        sandbox_url: str | None = None,
        demos: list[DemoEstablishment] | None = None,
    ) -> None:
        super().__init__()
        self.services = services
        self.sandbox_url = sandbox_url
        services.sandbox = sandbox_url is not None
        self.demos = demos or []
        self.draft = Draft()
        self.flow: list[type[StepScreen]] = []
        self.flow_name: Mode = "onboarding"
        self.index = 0
        self._base = 0
        self.config: Config | None = None

    @property
    def sandbox_help(self) -> str:
        return (f"Bac à sable : {len(self.demos)} établissements de démonstration, sans compte ; "
                "leur clé se choisit à l'étape suivante.")  # fmt: skip

    @property
    def flow_title(self) -> str:
        """Return what the current flow does, for the title of its steps."""
        if self.flow_name == "edit" and self.draft.editing is not None:
            return f"Modifier « {self.draft.editing.name} »"
        return {
            "onboarding": "Raccordement à TDBA",
            "add": "Ajouter un établissement",
            "edit": "Modifier",
            "schedule": "Envoi de nuit",
        }[self.flow_name]

    def on_mount(self) -> None:
        self.load_config(show_home=True)

    # -- errors ------------------------------------------------------------------------

    def show_failure(self, error: BaseException | None) -> None:
        """The one place a failed worker ends: an error screen, then the wizard goes on."""
        title, text = describe_failure(error)
        self.push_screen(ErrorModal(title, text))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.show_failure(event.worker.error)

    # -- loading -----------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="config", exit_on_error=False)
    def load_config(self, show_home: bool) -> None:
        """Read the configuration; then show the home screen (or the onboarding) if asked."""
        try:
            config = self.services.load()
        except ConfigError as error:
            self.call_from_thread(self._invalid_config, error)
            return
        self.call_from_thread(self._loaded, config, show_home)

    def _invalid_config(self, error: ConfigError) -> None:
        self.push_screen(ErrorModal(error.title, error.message + "\nL'assistant s'arrête ; "
                                    "corrigez le fichier puis relancez-le."),
                         lambda _: self.exit(return_code=1))  # fmt: skip

    def _loaded(self, config: Config | None, show_home: bool) -> None:
        self.config = config
        if show_home:
            self.call_later(self._show_home)

    # -- flows -------------------------------------------------------------------------

    def new_draft(self, mode: Mode) -> Draft:
        draft = Draft(mode=mode)
        if self.config is not None:
            draft.api_url = self.config.api.url
            draft.erp = draft.default_erp = self.config.api.erp
            draft.schedule_time = self.config.schedule.time
            draft.timezone = self.config.schedule.timezone
            draft.report_to = self.config.schedule.report_to
            if mode == "add":
                templates = [t for e in self.config.establishments if (t := template_of(e))]
                draft.source = templates[0] if templates else None
        if self.sandbox_url:
            draft.api_url = self.sandbox_url
            draft.secret_store = "file"  # the demo key stays in the temporary profile
            draft.install_schedule = False
        return draft

    def start_flow(self, name: Mode, establishment: Establishment | None = None) -> None:
        """Start a flow over a fresh draft (nothing is written until its last step)."""
        self.draft = self.new_draft(name)
        if establishment is not None:
            self.draft.editing = establishment
            self.draft.name, self.draft.sentite = establishment.name, establishment.sentite
            self.draft.source = establishment.source
            self.draft.transmission = establishment.transmission
            if self.config is not None:
                self.draft.erp = self.config.erp_of(establishment)
            self.draft.siret, self.draft.uai = establishment.siret, establishment.uai
        self.flow_name, self.flow = name, flow_for(name, self.draft)
        self.call_later(self._start)

    async def _start(self) -> None:
        if isinstance(self.screen, DoneScreen):
            await self.pop_screen()
        self._base = len(self.screen_stack)
        self.index = 0
        await self.push_screen(self.flow[0]())

    async def _unwind(self, depth: int) -> None:
        while len(self.screen_stack) > max(depth, 1):
            await self.pop_screen()

    def step_position(self, screen: StepScreen) -> tuple[int, int]:
        for number, step in enumerate(self.flow, start=1):
            if isinstance(screen, step):
                return number, len(self.flow)
        return self.index + 1, len(self.flow)

    def next_step(self) -> None:
        # The flow follows the draft (an ERP choice adds or takes away steps).
        current = type(self.screen)
        self.flow = flow_for(self.flow_name, self.draft)
        if current in self.flow:
            self.index = self.flow.index(current)
        if self.index + 1 < len(self.flow):
            self.index += 1
            self.push_screen(self.flow[self.index]())

    def previous_step(self) -> None:
        if self.index > 0:
            self.index -= 1
            self.pop_screen()
        elif self.config is not None and self.config.establishments:
            self.show_home()
        else:
            self.action_request_quit()

    def go_to_step(self, name: str) -> None:
        """Go back to an earlier step of the flow (what was typed is kept)."""
        names = [step.__name__ for step in self.flow]
        if name not in names or names.index(name) >= self.index:
            return
        target = names.index(name)
        for _ in range(self.index - target):
            screen = self.screen
            if isinstance(screen, StepScreen):
                screen.remember_typed()
            self.pop_screen()
        self.index = target

    def finish(self, result: SaveResult) -> None:
        """Called once the plan is applied: show what was done and what is missing."""
        screen = DoneScreen(self.draft, self.flow_name, result)
        self.call_later(self._show_done, screen)

    async def _show_done(self, screen: DoneScreen) -> None:
        await self._unwind(self._base)
        self.flow = []
        await self.push_screen(screen)
        self.load_config(show_home=False)  # for the next flow's defaults

    def show_home(self) -> None:
        self.load_config(show_home=True)

    async def _show_home(self) -> None:
        homes = [s for s in self.screen_stack if isinstance(s, HomeScreen)]
        if homes and self.config is not None and self.config.establishments:
            # Back to the same home screen: its filter and its cursor are kept.
            await self._unwind(self.screen_stack.index(homes[0]) + 1)
            self.flow = []
            homes[0].reload(self.config)
            return
        await self._unwind(1)
        self.flow = []
        if self.config is None or not self.config.establishments:
            self.start_flow("onboarding")
            return
        await self.push_screen(HomeScreen(self.config))

    # -- quitting ----------------------------------------------------------------------

    def action_request_quit(self) -> None:
        """Quit; in the middle of a flow, ask first (nothing has been written)."""
        if not self.flow:
            self.exit()
            return

        def answered(quit_: bool | None) -> None:
            if quit_:
                self.exit(message="Abandon : rien n'a été modifié.")

        self.push_screen(
            ConfirmModal(
                "Quitter sans enregistrer ? Rien n'a été modifié ; ce que vous avez saisi sera "
                "perdu.",
                yes="Quitter",
                no="Continuer",
            ),
            answered,
        )

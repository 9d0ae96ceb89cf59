"""The wizard application: flows of steps over one shared draft, and the home screen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from tdba_wizard.config import Config, ConfigError, Establishment
from tdba_wizard.secrets import SecretError
from tdba_wizard.tui.screens.base import StepScreen
from tdba_wizard.tui.screens.connection import ConnectionStep
from tdba_wizard.tui.screens.erp import ErpStep
from tdba_wizard.tui.screens.establishment import EstablishmentStep
from tdba_wizard.tui.screens.home import HomeScreen
from tdba_wizard.tui.screens.key import KeyStep
from tdba_wizard.tui.screens.modals import ConfirmModal, HelpModal
from tdba_wizard.tui.screens.review import DoneScreen, ReviewStep
from tdba_wizard.tui.screens.schedule import ScheduleStep
from tdba_wizard.tui.screens.welcome import WelcomeStep
from tdba_wizard.tui.services import Draft, SaveResult, WizardServices

Flow = Literal["onboarding", "add", "edit", "schedule"]
FLOWS: dict[Flow, list[type[StepScreen]]] = {
    "onboarding": [WelcomeStep, KeyStep, EstablishmentStep, ErpStep, ConnectionStep,
                   ScheduleStep, ReviewStep],
    "add": [KeyStep, EstablishmentStep, ErpStep, ConnectionStep, ReviewStep],
    "edit": [KeyStep, ErpStep, ConnectionStep, ReviewStep],
    "schedule": [ScheduleStep, ReviewStep],
}  # fmt: skip


@dataclass(frozen=True)
class DemoEstablishment:
    """A sandbox organisme a newcomer can pick (its key is never shown)."""

    name: str
    uai: str
    siret: str
    key: str


class WizardApp(App[None]):
    """tdba-wizard's interactive face."""

    CSS_PATH = "wizard.tcss"
    TITLE = "tdba-wizard"
    BINDINGS: ClassVar[list[Binding]] = [  # type: ignore[assignment]
        Binding("ctrl+q", "request_quit", "Quitter", priority=True),
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
        self.demos = demos or []
        self.draft = Draft()
        self.flow: list[type[StepScreen]] = []
        self.flow_name: Flow = "onboarding"
        self.index = 0
        self._base = 0
        self.config: Config | None = None

    @property
    def sandbox_help(self) -> str:
        lines = ["Établissements de démonstration du bac à sable :"]
        lines += [f" • {d.name} — UAI {d.uai}, SIRET {d.siret}" for d in self.demos[:4]]
        lines.append("Leur clé se choisit à l'étape suivante.")
        return "\n".join(lines)

    def on_mount(self) -> None:
        try:
            self.config = self.services.load()
        except ConfigError as error:
            self.push_screen(HelpModal("Configuration invalide", error.message),
                             lambda _: self.exit(return_code=1))  # fmt: skip
            return
        if self.config is not None and self.config.establishments:
            self.show_home()
        else:
            self.start_flow("onboarding")

    # -- flows -------------------------------------------------------------------------

    def new_draft(self) -> Draft:
        draft = Draft()
        if self.config is not None:
            draft.api_url = self.config.api.url
            draft.schedule_time = self.config.schedule.time
            draft.report_to = self.config.schedule.report_to
        if self.sandbox_url:
            draft.api_url = self.sandbox_url
            draft.secret_store = "file"  # the demo key stays in the temporary profile
            draft.install_schedule = False
        return draft

    def start_flow(self, name: Flow, establishment: Establishment | None = None) -> None:
        """Start a flow over a fresh draft (nothing is written until its last step)."""
        self.draft = self.new_draft()
        self.draft.mode = name
        if establishment is not None:
            self.draft.editing = establishment
            self.draft.name, self.draft.sentite = establishment.name, establishment.sentite
            self.draft.source = establishment.source
            self.draft.siret, self.draft.uai = establishment.siret, establishment.uai
            try:
                self.draft.current_key = self.services.store.get(
                    establishment.uai, establishment.siret
                ).value
            except SecretError:
                self.draft.current_key = ""
        self.flow_name, self.flow = name, FLOWS[name]
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
        """Go back to an earlier step of the flow (its screen keeps what was typed)."""
        names = [step.__name__ for step in self.flow]
        if name not in names or names.index(name) >= self.index:
            return
        target = names.index(name)
        for _ in range(self.index - target):
            self.pop_screen()
        self.index = target

    def finish(self, result: SaveResult) -> None:
        """Called once everything is saved: show what was written where."""
        draft = self.draft
        self.config = self.services.load()
        runs = (
            self.services.next_runs(draft.schedule_time, draft.timezone) if result.schedule else []
        )
        self.call_later(self._show_done, DoneScreen(draft, result, runs))

    async def _show_done(self, screen: Screen[None]) -> None:
        await self._unwind(self._base)
        self.draft = Draft()
        self.flow = []
        await self.push_screen(screen)

    def show_home(self) -> None:
        self.call_later(self._show_home)

    async def _show_home(self) -> None:
        self.config = self.services.load()
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

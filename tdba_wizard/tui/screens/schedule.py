"""Envoi de nuit: the time, the optional report, and a preview of the crontab line."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, Static, Switch

from tdba_wizard.config import check_email
from tdba_wizard.schedule import ScheduleError, parse_time
from tdba_wizard.tui.screens.base import StepScreen
from tdba_wizard.tui.services import Draft
from tdba_wizard.tui.validators import IdentifierValidator
from tdba_wizard.tui.widgets import Field


def _time(value: str) -> str:
    try:
        return parse_time(value).hhmm
    except ScheduleError as error:
        raise ValueError(error.message) from None


def _email(value: str) -> str:
    return check_email(value)


def switch_text(on: bool) -> str:
    return "Installer l'envoi de nuit : " + ("[b]oui[/b]" if on else "[b]non[/b]")


class ScheduleStep(StepScreen):
    """Envoi de nuit."""

    step_title = "Envoi de nuit"
    help_text = (
        "L'envoi de nuit transmet chaque jour les dossiers de l'export à TDBA (23:00 heure de "
        "Paris, comme TDBA le recommande). Il est installé dans votre crontab ; avant de "
        "l'installer, l'assistant l'essaie dans l'environnement de cron, pour s'assurer qu'il "
        "pourra lire la configuration et la clé à l'heure prévue. Une expression Quartz "
        "d'Ammon (0 0 23 * * ?) est aussi acceptée. Espace bascule l'interrupteur."
    )

    def compose_body(self) -> ComposeResult:
        draft = self.draft
        with Horizontal(classes="pair"):
            yield Switch(value=draft.install_schedule, id="install")
            yield Label(switch_text(draft.install_schedule), id="install-label")
        with Horizontal(classes="pair"):
            yield Field(f"Heure ({draft.timezone})", field_id="time", value=draft.schedule_time,
                        validator=IdentifierValidator(_time))  # fmt: skip
            yield Field("Compte rendu par e-mail (facultatif)", field_id="report",
                        value=draft.report_to or "", placeholder="ex. admin@cfa.fr",
                        validator=IdentifierValidator(_email, optional=True))  # fmt: skip
        yield Static("", id="preview", classes="card", markup=False)

    def on_mount(self) -> None:
        if self.wizard.sandbox_url:
            switch = self.query_one("#install", Switch)
            switch.value = False
            switch.disabled = True
        self._preview()

    def on_input_changed(self) -> None:
        self._preview()

    def on_switch_changed(self, event: Switch.Changed) -> None:
        self.query_one("#install-label", Label).update(switch_text(event.value))
        self._preview()

    def _preview(self) -> None:
        preview = self.query_one("#preview", Static)
        if self.wizard.sandbox_url:
            preview.update(
                "Mode bac à sable : aucune tâche n'est installée dans votre crontab (elle "
                "viserait un profil temporaire). En usage réel, elle le serait ici."
            )
            return
        if not self.query_one("#install", Switch).value:
            preview.update(
                "Aucune tâche ne sera installée : rien ne partira vers TDBA tant qu'elle ne "
                "l'est pas (« p » depuis l'accueil, ou « tdba-wizard schedule install »)."
            )
            return
        field = self.query_one("#time-field", Field)
        if field.error():
            preview.update("")
            return
        self.show_preview(_time(field.value), self.draft.timezone)

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def show_preview(self, time: str, timezone: str) -> None:
        """The crontab line and the next runs (reads the system's zone and the program)."""
        services = self.wizard.services
        if not services.crontab.available:
            text = ("Pas de crontab sur ce système : le récapitulatif donnera la commande à "
                    "planifier vous-même.")  # fmt: skip
        else:
            entry = services.schedule_entry(time, timezone)
            lines = [line for line in entry.block().decode().splitlines()
                     if not line.startswith("#")]  # fmt: skip
            runs = "\n".join(f" • {line}" for line in services.next_runs(time, timezone)[:2])
            text = "\n".join([
                "Ligne qui sera ajoutée à votre crontab (et seulement elle), à "
                "l'enregistrement :", *lines, "Prochains passages :", runs])  # fmt: skip
        self.app.call_from_thread(self.query_one("#preview", Static).update, text)

    def check(self) -> str | None:
        for field_id in ("time", "report"):
            problem = self.query_one(f"#{field_id}-field", Field).error()
            if problem:
                return problem
        return None

    def apply(self, draft: Draft) -> None:
        draft.install_schedule = self.query_one("#install", Switch).value
        draft.schedule_time = _time(self.query_one("#time-field", Field).value)
        report = self.query_one("#report-field", Field).value.strip()
        draft.report_to = report or None

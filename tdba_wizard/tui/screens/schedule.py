"""Planification: the nightly time, the optional report, and a preview of the entry."""

from __future__ import annotations

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


class ScheduleStep(StepScreen):
    """Planification."""

    step_title = "Planification"
    help_text = (
        "L'envoi de nuit transmet chaque jour les dossiers de l'export à TDBA (23:00 heure de "
        "Paris, comme TDBA le recommande). Il est installé dans votre crontab ; avant de "
        "l'installer, l'assistant vérifie qu'il pourra lire la configuration et la clé à "
        "l'heure prévue. Une expression Quartz d'Ammon (0 0 23 * * ?) est aussi acceptée."
    )

    def compose_body(self) -> ComposeResult:
        draft = self.draft
        with Horizontal(classes="pair"):
            yield Label("Installer l'envoi de nuit")
            yield Switch(value=draft.install_schedule, id="install")
        with Horizontal(classes="pair"):
            yield Field("Heure (Europe/Paris)", field_id="time", value=draft.schedule_time,
                        validator=IdentifierValidator(_time))  # fmt: skip
            yield Field("Compte rendu par e-mail (facultatif)", field_id="report",
                        value=draft.report_to or "", placeholder="admin@cfa.fr",
                        validator=IdentifierValidator(_email, optional=True))  # fmt: skip
        yield Static("", id="preview", classes="card")

    def on_mount(self) -> None:
        if self.wizard.sandbox_url:
            switch = self.query_one("#install", Switch)
            switch.value = False
            switch.disabled = True
        self._preview()

    def on_input_changed(self) -> None:
        self._preview()

    def on_switch_changed(self) -> None:
        self._preview()

    def _preview(self) -> None:
        preview = self.query_one("#preview", Static)
        if self.wizard.sandbox_url:
            preview.update(
                "Mode bac à sable : aucune tâche n'est installée dans votre crontab (elle "
                "pointerait vers un profil temporaire). En usage réel, elle le serait ici."
            )
            return
        if not self.query_one("#install", Switch).value:
            preview.update(
                "Aucune tâche ne sera installée ; « tdba-wizard schedule install » plus tard."
            )
            return
        services = self.wizard.services
        if not services.crontab.available:
            preview.update(
                "Pas de crontab sur ce système : le récapitulatif donnera la commande à "
                "planifier vous-même."
            )
            return
        field = self.query_one("#time-field", Field)
        if field.error():
            preview.update("")
            return
        time = _time(field.value)
        entry = services.schedule_entry(time, "Europe/Paris")
        lines = [line for line in entry.block().decode().splitlines() if not line.startswith("#")]
        runs = "\n".join(f" • {line}" for line in services.next_runs(time, "Europe/Paris")[:2])
        preview.update(
            "Ligne ajoutée à votre crontab (et seulement elle) :\n"
            + "\n".join(lines)
            + f"\nProchains passages :\n{runs}"
        )

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

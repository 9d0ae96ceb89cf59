"""``tdba-wizard history``: every run, per establishment, for 400 days."""

from __future__ import annotations

import argparse
import json
import sys

from tdba_wizard.errors import ExitCode

COLUMNS = (
    ("rows_read", "lus"),
    ("rejected_locally", "refusés"),
    ("sent", "envoyés"),
    ("accepted", "acceptés"),
    ("rejected_by_tdba", "refusés TDBA"),
    ("predicted_failing", "rejets prévus"),
    ("duplicates", "doublons"),
)


def cmd_history(args: argparse.Namespace) -> int:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from tdba_wizard.cli.common import config_file
    from tdba_wizard.config import ConfigError, load_config
    from tdba_wizard.history import read_history
    from tdba_wizard.identifiers import parse_uai
    from tdba_wizard.paths import state_dir
    from tdba_wizard.text import clean

    uai = parse_uai(args.uai) if args.uai else None
    entries = read_history(state_dir(), uai)
    if args.json:
        sys.stdout.write(json.dumps({"runs": entries}, ensure_ascii=False, indent=2) + "\n")
        return ExitCode.OK
    try:
        zone = load_config(config_file(args)).schedule.timezone
    except ConfigError:
        zone = "Europe/Paris"
    if not entries:
        print("Aucun envoi enregistré" + (f" pour l'UAI {uai}" if uai else "") + ".")
        return ExitCode.OK
    by_establishment: dict[tuple[str, str], list[dict[str, object]]] = {}
    for entry in entries:
        couple = (str(entry.get("uai")), str(entry.get("siret")))
        by_establishment.setdefault(couple, []).append(entry)
    for (uai_, siret), runs in by_establishment.items():
        name = clean(runs[-1].get("name", ""), 80)
        print(f"« {name} » (UAI {uai_}, SIRET {siret}) — {len(runs)} envoi(s), heures {zone}")
        print("  " + "date              verdict   " + "  ".join(label for _, label in COLUMNS))
        for run in runs:
            try:
                when = dt.datetime.fromisoformat(str(run["finished_at"]))
                shown = when.astimezone(ZoneInfo(zone)).strftime("%d/%m/%Y %H:%M")
            except (KeyError, ValueError):
                shown = "?"
            figures = "  ".join(f"{run.get(key, '—')!s:>{len(label)}}" for key, label in COLUMNS)
            print(f"  {shown:<17} {clean(run.get('verdict', '?'), 8):<9} {figures}")
        print()
    return ExitCode.OK

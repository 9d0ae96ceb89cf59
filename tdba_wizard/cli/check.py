"""The health check's command (--check): never imports Textual."""

from __future__ import annotations

import argparse
import json
import sys

from tdba_wizard.cli.common import config_file


def cmd_check(args: argparse.Namespace) -> int:
    import asyncio
    import datetime as dt

    from tdba_wizard.check import Check, CheckReport, render_human, run_check
    from tdba_wizard.errors import NagiosCode
    from tdba_wizard.identifiers import IdentifierError, parse_uai
    from tdba_wizard.paths import state_dir
    from tdba_wizard.schedule import program_command

    uai = None
    report: CheckReport | None = None
    if args.check_uai is not None:
        try:
            uai = parse_uai(args.check_uai)
        except IdentifierError as error:  # UNKNOWN, not a usage error (2 reads as CRITICAL)
            report = CheckReport(config_file(args), dt.datetime.now(dt.UTC))
            report.checks.append(Check("config", NagiosCode.UNKNOWN, f"--uai : {error}"))
    if report is None:
        report = asyncio.run(
            run_check(
                config_file(args),
                state_dir(),
                cron_env=args.cron_env,
                program=program_command(),
                uai=uai,
            )
        )
    if args.check_json:
        sys.stdout.write(json.dumps(report.as_json(), ensure_ascii=False, indent=2) + "\n")
    else:
        print(render_human(report, quiet=args.quiet), end="")
    return int(report.status)

"""The health check's command (--check): never imports Textual."""

from __future__ import annotations

import argparse
import json
import sys

from tdba_wizard.cli.common import config_file


def cmd_check(args: argparse.Namespace) -> int:
    import asyncio

    from tdba_wizard.check import render_human, run_check
    from tdba_wizard.paths import state_dir
    from tdba_wizard.schedule import program_command

    report = asyncio.run(
        run_check(config_file(args), state_dir(), cron_env=args.cron_env, program=program_command())
    )
    if args.check_json:
        json.dump(report.as_json(), sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        print(render_human(report, quiet=args.quiet), end="")
    return int(report.status)

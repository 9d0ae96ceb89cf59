"""Command-line entry point: ``tdba-wizard`` and ``python -m tdba_wizard``.

Only the interactive path imports Textual; ``--check``, ``sync`` and the scripting commands
stay light: each command's module is imported when it runs. Data goes to stdout,
diagnostics to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from tdba_wizard.cli.parser import build_parser
from tdba_wizard.errors import NagiosCode, TdbaError, exit_code_for
from tdba_wizard.paths import STATE_ENV

# The tool uses no pydantic plugin: pydantic need not scan every installed package's entry
# points at the first model (a noticeable part of the start of a command).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

# command → (module of tdba_wizard.cli, handler)
COMMANDS: dict[str | None, tuple[str, str]] = {
    "add": ("setup", "cmd_add"),
    "remove": ("setup", "cmd_remove"),
    "list": ("setup", "cmd_list"),
    "key": ("setup", "cmd_key"),
    "sandbox": ("sandbox", "cmd_sandbox"),
    "schedule": ("schedule", "cmd_schedule"),
    "sync": ("sync", "cmd_sync"),
    "history": ("history", "cmd_history"),
    "erp-sheet": ("erpsheet", "cmd_erp_sheet"),
    "xlsx": ("xlsx", "cmd_xlsx"),
    None: ("interactive", "cmd_interactive"),
}


def _handler(command: str | None) -> Callable[[argparse.Namespace], int]:
    module_name, name = COMMANDS[command]
    module = importlib.import_module(f"tdba_wizard.cli.{module_name}")
    handler: Callable[[argparse.Namespace], int] = getattr(module, name)
    return handler


def culprit(error: BaseException) -> str:
    """Return where an error was raised (file:line, function), for a report."""
    import traceback

    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "?"
    frame = frames[-1]
    return f"{os.path.basename(frame.filename)}:{frame.lineno} ({frame.name})"


def print_unknown(message: str) -> None:
    """Print the --check JSON document of a check that could not be made (UNKNOWN)."""
    import datetime as dt
    import json

    document = {
        "schema": "tdba-wizard/check/1",
        "status": "UNKNOWN",
        "exit_code": int(NagiosCode.UNKNOWN),
        "checked_at": dt.datetime.now(dt.UTC).isoformat(),
        "config": None,
        "checks": [
            {"code": "internal", "status": "UNKNOWN", "message": message, "fix": None,
             "figures": {}}
        ],
        "establishments": [],
    }  # fmt: skip
    print(json.dumps(document, ensure_ascii=False, indent=2))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    checking = "--check" in arguments
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
        if not args.check:
            stray = [flag for flag, given in (("--json", args.check_json),
                     ("--quiet", args.quiet), ("--cron-env", args.cron_env),
                     ("--uai", args.check_uai)) if given]  # fmt: skip
            if stray:
                parser.error(
                    f"{' '.join(stray)} ne s'emploie qu'avec --check "
                    f"(ex. « tdba-wizard --check {' '.join(stray)} »)."
                )
    except SystemExit as exit_:
        # Monitoring reads bad arguments of --check as UNKNOWN, never as WARNING or CRITICAL.
        if checking and exit_.code not in (0, None):
            if "--json" in arguments:
                print_unknown("Arguments de --check invalides (voir « tdba-wizard --help »).")
            return NagiosCode.UNKNOWN
        raise
    if args.state_dir is not None:
        # Every part reads the state directory through paths.state_dir().
        os.environ[STATE_ENV] = str(args.state_dir.expanduser().absolute())
    if args.check:
        try:
            from tdba_wizard.cli.check import cmd_check

            return cmd_check(args)
        except Exception as error:  # an internal failure must read as UNKNOWN, not crash
            message = (
                f"Erreur interne du contrôle ({type(error).__name__}) dans {culprit(error)} : "
                "signalez-la avec cette ligne."
            )
            if args.check_json:
                print_unknown(message)
            else:
                print(f"UNKNOWN — {message}")
            return NagiosCode.UNKNOWN
    try:
        return _handler(args.command)(args)
    except TdbaError as error:
        from tdba_wizard.text import clean  # a message may quote a value from outside

        print(f"✖ {error.title} : {clean(error.message, 2000)}", file=sys.stderr)
        return exit_code_for(error)
    except KeyboardInterrupt as interrupted:
        print("\nInterrompu : rien n'a été modifié.", file=sys.stderr)
        return exit_code_for(interrupted)

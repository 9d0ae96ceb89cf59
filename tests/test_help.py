"""Every command's --help ends with French examples, and every example parses."""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Iterator

import pytest

from tdba_wizard.cli import main
from tdba_wizard.cli.parser import EXAMPLES, build_parser


def parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from parsers(child)


ALL = {" ".join(p.prog.split()[1:]): p for p in parsers(build_parser())}


@pytest.mark.parametrize("words", sorted(ALL))
def test_every_help_ends_with_examples(words: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*words.split(), "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    tail = out[out.rindex("\nexemple") :].strip()
    assert [line for line in tail.splitlines()[1:] if line.strip()], out
    assert all(line.startswith("  ") for line in tail.splitlines()[1:] if line.strip()), (
        "examples are indented lines"
    )


def example_commands() -> Iterator[str]:
    for text in EXAMPLES.values():
        joined = re.sub(r"\\\n\s*", "", text)
        for line in joined.splitlines():
            line = line.strip()
            if not line.startswith("tdba-wizard ") or "..." in line:
                continue
            command = re.split(r"\s{2,}|\s+\(", line)[0]  # the explanation after it
            if "<" in shlex.split(command):
                command = command.split(" < ")[0]
            yield command


@pytest.mark.parametrize("command", sorted(set(example_commands())))
def test_every_example_parses(command: str) -> None:
    words = shlex.split(command)[1:]
    if words == ["COMMANDE", "--help"]:
        return
    build_parser().parse_args(words)  # raises SystemExit on an option that does not exist


def test_sync_help_names_exit_codes_report_and_columns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["sync", "--help"])
    out = capsys.readouterr().out
    assert "codes de sortie : 0 OK, 1 WARNING" in out and "2 CRITICAL" in out
    assert "reports/" in out and "section « L'export »" in out

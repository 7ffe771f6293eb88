"""docs/reference/cli.md names every command and every flag the parser has, under that command."""
import argparse
import re

from core.cli.parser import parser
from tests.support import REPO

DOC = (REPO / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")


def _commands(p: argparse.ArgumentParser, prefix: str = ""):
    """(command path, its parser) for every command and sub-command, e.g. ('spec draft', ...)."""
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                path = f"{prefix} {name}".strip()
                yield path, sub
                yield from _commands(sub, path)


def _section(command: str) -> str:
    """The doc's text about ``command``: its ### section, else the table rows that start with it."""
    m = re.search(rf"^### `{re.escape(command)}`\n(.*?)(?=^##)", DOC + "\n##", re.S | re.M)
    if m:
        return m.group(1)
    rows = [line for line in DOC.splitlines()
            if line.startswith("| ") and re.search(rf"`{re.escape(command)}[ `]", line.split(" | ")[0])]
    return "\n".join(rows)


def _undocumented(p: argparse.ArgumentParser) -> list[str]:
    """Commands and flags of ``p`` that the doc does not name where it describes that command."""
    missing = []
    for command, sub in _commands(p):
        has_subcommands = any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)
        text = _section(command)
        if not text and not has_subcommands:
            missing.append(command)
            continue
        for action in sub._actions:
            flags = [o for o in action.option_strings if o.startswith("--")]
            if not flags or flags[0] in ("--help", "--settings", "--artifacts", "--seed"):
                continue
            if not re.search(rf"{re.escape(flags[0])}(?![\w-])", text):
                missing.append(f"{command} {flags[0]}")
    return missing


def test_every_command_and_flag_is_documented():
    assert _undocumented(parser()) == []


def test_the_global_flags_are_documented():
    for flag in ("--settings", "--artifacts", "--seed"):
        assert f"`{flag}" in DOC


def test_the_check_finds_an_undocumented_flag_and_command():
    p = parser()
    dict(_commands(p))["drift"].add_argument("--window-size")     # --window is documented, under readout
    dict(_commands(p))["jobs"]._actions[-1].add_parser("pause")
    assert _undocumented(p) == ["drift --window-size", "jobs pause"]

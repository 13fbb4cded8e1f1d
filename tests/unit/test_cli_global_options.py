"""Global options before or after the subcommand: how the root group reorders the line
(``ccnet.client.commands._global_options``); the commands themselves are run both ways
in test_client_cli.py and tests/integration/test_cli_lifecycle.py."""

from __future__ import annotations

import pytest
import typer
from typer.core import TyperGroup

from ccnet.client.cli import app
from ccnet.client.commands._global_options import hoist_global_options


def root() -> TyperGroup:
    command = typer.main.get_command(app)
    assert isinstance(command, TyperGroup)
    return command


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["balance", "//Alice", "--json"], ["--json", "balance", "//Alice"]),
        (
            ["task", "status", "7", "--url=ws://x:1", "-v", "--keystore", "k", "--config", "c"],
            ["--url=ws://x:1", "-v", "--keystore", "k", "--config", "c", "task", "status", "7"],
        ),
        # Already in front: unchanged; a later one goes after it, so the last one wins.
        (["--json", "balance", "//Alice"], ["--json", "balance", "//Alice"]),
        (
            ["--url", "ws://a:1", "task", "list", "--url", "ws://b:1"],
            ["--url", "ws://a:1", "--url", "ws://b:1", "task", "list"],
        ),
        # The value of the command's own option is not a global option.
        (
            ["task", "post", "--input", "--json", "--bounty", "1"],
            ["task", "post", "--input", "--json", "--bounty", "1"],
        ),
        # The command's own option of the same name wins.
        (["worker", "run", "--url", "ws://w:1"], ["worker", "run", "--url", "ws://w:1"]),
        # After `--`, nothing is an option; eager options stay where they are.
        (["balance", "--", "--json"], ["balance", "--", "--json"]),
        (["balance", "--version"], ["balance", "--version"]),
    ],
)
def test_hoist(args: list[str], expected: list[str]) -> None:
    assert hoist_global_options(root(), args) == expected

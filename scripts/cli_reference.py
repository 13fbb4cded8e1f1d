"""Print the ``ccnet`` command reference as Markdown, from the CLI's own definitions.

``python scripts/cli_reference.py`` prints it; ``--write README.md`` replaces the block
between ``<!-- cli-reference:start -->`` and ``<!-- cli-reference:end -->`` in the README
(tests/unit/test_readme.py checks that the README is up to date).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from ccnet.client.cli import app

Command = Any  # typer's vendored click Command (no public type)

START, END = "<!-- cli-reference:start -->", "<!-- cli-reference:end -->"


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n\n")[0].replace("\n", " ")


def _options(command: Command) -> list[str]:
    rows = []
    for param in command.params:
        if isinstance(param, TyperOption) and not param.hidden and param.name != "help":
            names = ", ".join(f"`{o}`" for o in param.opts)
            rows.append(f"{names}: {_first_line(param.help)}".rstrip(": "))
        elif isinstance(param, TyperArgument):
            name = (param.name or "").upper()
            text = _first_line(getattr(param, "help", None))
            rows.append(f"`{name}` (argument): {text}".rstrip(": "))
    return rows


def _walk(command: Command, path: list[str]) -> list[str]:
    lines: list[str] = []
    if isinstance(command, TyperGroup):
        if path != ["ccnet"]:
            lines.append(f"- **`{' '.join(path)}`**: {_first_line(command.help)}")
        for name in sorted(command.commands):
            lines += _walk(command.commands[name], [*path, name])
        return lines
    lines.append(f"- **`{' '.join(path)}`**: {_first_line(command.help)}")
    lines += [f"  - {row}" for row in _options(command)]
    return lines


def reference() -> str:
    """The Markdown reference of every ``ccnet`` command."""
    root = typer.main.get_command(app)
    global_options = "\n".join(f"  - {row}" for row in _options(root))
    body = "\n".join(_walk(root, ["ccnet"]))
    title = "- **`ccnet`** global options (before or after the command):"
    return f"{title}\n{global_options}\n{body}\n"


def main(argv: list[str]) -> int:
    text = reference()
    if len(argv) == 2 and argv[0] == "--write":
        readme = Path(argv[1])
        content = readme.read_text()
        head, _, rest = content.partition(START)
        _, _, tail = rest.partition(END)
        readme.write_text(f"{head}{START}\n{text}{END}{tail}")
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

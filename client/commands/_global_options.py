"""Global options anywhere on the line: ``ccnet balance //Alice --json`` is read as
``ccnet --json balance //Alice``.

click reads the root callback's options (``--url``, ``--keystore``, ``--config``,
``--json``, ``--verbose``) only before the subcommand. :class:`GlobalOptionsGroup`, the
root group of ``ccnet``, moves those that follow the subcommand in front of it before
click parses the line. A command's own option of the same name wins (``worker run
--url``); the values of the command's own options are never taken for global options;
``--`` ends the search.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from typer.core import TyperGroup, TyperOption

__all__ = ["GlobalOptionsGroup", "hoist_global_options"]


def _option(command: Any, name: str) -> TyperOption | None:
    for param in command.params:
        if isinstance(param, TyperOption) and name in (*param.opts, *param.secondary_opts):
            return param
    return None


def _takes_value(option: TyperOption | None) -> bool:
    return option is not None and not option.is_flag and not option.count


def hoist_global_options(root: TyperGroup, args: Sequence[str]) -> list[str]:
    """*args* with the root's (non-eager) options that follow the subcommand, and their
    values, moved in front of it (after those already there, so that the last one given
    still wins); everything else keeps its order."""
    hoisted: list[str] = []
    kept: list[str] = []
    command: Any = root
    subcommand_at = 0  # where in *kept* the subcommand starts
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            kept += args[i:]
            break
        if token.startswith("-") and token != "-":
            name, eq, _ = token.partition("=")
            own = _option(command, name)
            root_option = _option(root, name)
            option: TyperOption | None = own
            target = kept
            if command is not root and own is None and root_option and not root_option.is_eager:
                target, option = hoisted, root_option
            width = 2 if _takes_value(option) and not eq and i + 1 < len(args) else 1
            target += args[i : i + width]
            i += width
            continue
        if isinstance(command, TyperGroup) and token in command.commands:
            if command is root:
                subcommand_at = len(kept)
            command = command.commands[token]
        kept.append(token)
        i += 1
    return kept[:subcommand_at] + hoisted + kept[subcommand_at:]


class GlobalOptionsGroup(TyperGroup):
    """A root group whose options may also follow the subcommand
    (:func:`hoist_global_options`)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(self, args))

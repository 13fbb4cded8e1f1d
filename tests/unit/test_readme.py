"""The README stays true: its CLI reference matches the CLI, and its two commands are
the ones CI runs."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType


def _cli_reference(repo_root: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "cli_reference", repo_root / "scripts" / "cli_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_current(repo_root: Path) -> None:
    module = _cli_reference(repo_root)
    readme = (repo_root / "README.md").read_text()
    block = readme.split(module.START, 1)[1].split(module.END, 1)[0]
    assert block.strip() == module.reference().strip(), (
        "README's CLI reference is stale: python scripts/cli_reference.py --write README.md"
    )


def test_two_commands_and_ci(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.S)
    assert "make demo" in [b.strip() for b in blocks]
    assert "make test" in [b.strip() for b in blocks]
    ci = (repo_root / ".ci" / "run").read_text()
    assert "make test" in ci.splitlines()

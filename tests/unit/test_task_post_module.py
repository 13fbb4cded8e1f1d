"""``ccnet task post --module FILE --arg ...``: the job spec it posts, and the refusals
that come before any chain call (no chain runs here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ccnet.client.cli import app
from ccnet.client.commands.task import _input_ref
from ccnet.client.exceptions import UserError
from ccnet.client.jobs.catalogue import module_hash
from ccnet.client.jobs.jobspec import JobSpec

runner = CliRunner()


def test_module_becomes_a_job_spec_workers_rerun(tmp_path: Path) -> None:
    module = tmp_path / "job.wasm"
    module.write_bytes(b"\0asm\1\0\0\0")
    spec = JobSpec.decode(_input_ref(None, module, ["10000", "x"]))
    assert spec.module_hash == module_hash(module.read_bytes())
    assert spec.args == ("10000", "x") and spec.input_inline == b""
    assert spec.fuel is None and spec.seed == b""
    assert _input_ref("ar://abc", None, []) == "ar://abc"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ((None, None, []), "either --input or --module"),
        (("ar://abc", Path("x.wasm"), []), "either --input or --module"),
        (("ar://abc", None, ["1"]), "--arg needs --module"),
    ],
)
def test_input_and_module_are_exclusive(
    given: tuple[str | None, Path | None, list[str]], message: str
) -> None:
    with pytest.raises(UserError, match=message):
        _input_ref(*given)


def test_cli_refuses_before_the_chain(tmp_path: Path) -> None:
    module = tmp_path / "job.wasm"
    module.write_bytes(b"\0asm\1\0\0\0")
    args = ["--url", "ws://127.0.0.1:9", "task", "post", "--bounty", "1", "-k", "//Alice"]
    result = runner.invoke(app, [*args, "--input", "ar://x", "--module", str(module)])
    assert result.exit_code == 1 and "either --input or --module" in result.output
    result = runner.invoke(app, [*args, "--module", str(tmp_path / "missing.wasm")])
    assert result.exit_code == 2

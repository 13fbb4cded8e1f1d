"""The distribution installs one namespace, ccnet, and no bare top-level packages."""

from __future__ import annotations

import configparser
import importlib
import importlib.metadata
import importlib.resources
import logging
import subprocess
import sys
from pathlib import Path

import pytest

SUBPACKAGES = ["client", "channels", "worker", "storage", "zk", "bridge"]


def test_setup_cfg_maps_every_subpackage(repo_root: Path) -> None:
    cfg = configparser.ConfigParser()
    cfg.read(repo_root / "setup.cfg")
    packages = cfg["options"]["packages"].split()
    lines = cfg["options"]["package_dir"].strip().splitlines()
    mapping = {key.strip(): value.strip() for key, value in (ln.split("=") for ln in lines)}
    assert mapping == {f"ccnet.{name}": name for name in SUBPACKAGES}
    # Every folder with an __init__.py below a mapped folder must be listed, or the
    # wheel silently leaves it out (the editable install would still find it).
    on_disk = sorted(
        "ccnet." + ".".join(init.parent.relative_to(repo_root).parts)
        for name in SUBPACKAGES
        for init in (repo_root / name).rglob("__init__.py")
        if "node_modules" not in init.parts
    )
    assert sorted(packages) == on_disk


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_subpackage_imports(name: str) -> None:
    module = importlib.import_module(f"ccnet.{name}")
    assert module.__doc__
    assert isinstance(module.__all__, list)
    assert importlib.resources.files(module).joinpath("py.typed").is_file()
    handlers = logging.getLogger(module.__name__).handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


def test_ccnet_is_a_namespace_package() -> None:
    ccnet = importlib.import_module("ccnet")
    assert getattr(ccnet, "__file__", None) is None


def test_console_script_entry_point() -> None:
    scripts = importlib.metadata.distribution("compute-currency").entry_points
    assert [ep.value for ep in scripts if ep.name == "ccnet"] == ["ccnet.client.cli:main"]


def test_no_bare_top_level_packages(tmp_path: Path) -> None:
    # Isolated interpreter (-I) in a folder other than the checkout: only what is
    # installed counts, not the folders beside the working directory.
    code = (
        "import importlib.util, sys; "
        f"found = [n for n in {SUBPACKAGES!r} if importlib.util.find_spec(n) is not None]; "
        "import ccnet.client; "
        "sys.exit(f'importable as top-level: {found}' if found else 0)"
    )
    subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, check=True)


def test_the_client_links_no_worker_and_no_wasmtime() -> None:
    # What every participant links (the SDK, the network stack, the job protocol, the
    # CLI, the demo) never loads the worker daemon or its sandbox; `ccnet worker run`
    # imports the daemon only when it runs.
    code = (
        "import sys; "
        "import ccnet.client, ccnet.client.cli, ccnet.client.demo, ccnet.client.requester; "
        "import ccnet.client.net.webrtc, ccnet.client.net.dht; "
        "import ccnet.client.jobs.messages, ccnet.client.jobs.catalogue, "
        "ccnet.client.jobs.billing, ccnet.client.jobs.proofs, ccnet.client.jobs.jobspec, "
        "ccnet.client.jobs.heartbeat, ccnet.client.jobs.matmul; "
        "bad = sorted(m for m in sys.modules if m.startswith(('ccnet.worker', 'wasmtime'))); "
        "sys.exit(f'loaded: {bad}' if bad else 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

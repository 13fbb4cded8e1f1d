"""``ccnet demo``: the whole market on one machine (see :mod:`ccnet.client.demo`).

Progress goes to stderr (a line per step, a spinner per phase on a terminal); the
summary goes to stdout as rich tables, or as one JSON object with ``--json``. Exit
code 0 only if every check passed; 5 if a check failed; the usual codes (1, 3, 4) for
errors; 130 on Ctrl-C. Every process the demo started is stopped on the way out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import CliContext, format_cc

__all__ = ["demo"]

CHECKS_FAILED = 5


class _ConsoleReporter:
    """Phases and notes on the CLI's stderr console."""

    def __init__(self, cli: CliContext) -> None:
        self.cli = cli
        self.console = cli.err_console

    @contextlib.contextmanager
    def phase(self, name: str, description: str) -> Iterator[None]:
        self.console.print(f"[bold cyan]▶ {name}[/bold cyan]: {description}")
        if self.console.is_terminal:
            with self.console.status(f"{name}: {description}"):
                yield
        else:
            yield

    def note(self, message: str) -> None:
        self.console.print(f"  {message}")


def demo(
    ctx: typer.Context,
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="Leave the chain and gateway up afterwards.")
    ] = False,
    chain_port: Annotated[int, typer.Option(help="Port of the dev chain (127.0.0.1).")] = 8000,
    gateway_port: Annotated[int, typer.Option(help="Port of arlocal (127.0.0.1).")] = 1984,
    state_dir: Annotated[
        Path, typer.Option(help="Where the run's files go (outputs, worker logs).")
    ] = Path(".state/demo"),
    fiat: Annotated[
        bool,
        typer.Option(
            "--fiat",
            help="Start with a card purchase and end with a worker's PayPal payout "
            "(local Stripe emulator and PayPal double).",
        ),
    ] = False,
    network: Annotated[
        str,
        typer.Option(
            "--network",
            help="dev: the Chopsticks dev chain (fast, blocks on demand). local: four "
            "ccnet-node validators (`ccnet network start`; 6 s blocks, every extrinsic "
            "waits for GRANDPA finality; scripts/build-node.sh builds the node).",
        ),
    ] = "dev",
    localnet_dir: Annotated[
        Path,
        typer.Option(help="State dir of the local network (--network local; reused if it runs)."),
    ] = Path(".state/localnet"),
    skip: Annotated[
        list[str] | None,
        typer.Option(
            "--skip",
            metavar="PHASE",
            help="Leave a phase out: checkpoint or migration (repeatable).",
        ),
    ] = None,
) -> None:
    """Start the dev chain (or four validators), Arweave gateway and five workers; run
    real jobs with verification, payment channels, a dispute, a checkpoint and a job
    migrated from a killed worker by its VM checkpoint; print a summary."""
    from ..demo import NETWORKS, SKIPPABLE_PHASES, DemoConfig, run_demo

    if network not in NETWORKS:
        raise typer.BadParameter(f"one of {', '.join(NETWORKS)}", param_hint="--network")
    for phase in skip or ():
        if phase not in SKIPPABLE_PHASES:
            raise typer.BadParameter(f"one of {', '.join(SKIPPABLE_PHASES)}", param_hint="--skip")
    cli = CliContext.of(ctx)
    config = DemoConfig(
        network="local" if network == "local" else "dev",
        localnet_dir=localnet_dir,
        state_dir=state_dir,
        chain_port=chain_port,
        gateway_port=gateway_port,
        keep_running=keep_running,
        fiat=fiat,
        skip=frozenset(skip or ()),
    )
    with cli.errors():
        try:
            summary = run_demo(config, _ConsoleReporter(cli))
        except KeyboardInterrupt:
            cli.err_console.print("interrupted: everything the demo started was stopped")
            raise typer.Exit(130) from None
    cli.emit(summary.as_dict(), human=lambda: _render(cli, summary.as_dict()))
    if not summary.ok:
        raise typer.Exit(CHECKS_FAILED)


def _render(cli: CliContext, s: dict[str, Any]) -> Any:
    from rich.console import Group

    t = s["tasks"]
    parts: list[Any] = [
        cli.table(
            "Tasks",
            [
                ("run", t.get("run", 0)),
                ("verified", t.get("verified", 0)),
                ("rejected", t.get("rejected", 0)),
                ("on-chain results rejected (disputed)", t.get("onchain_results_rejected", 0)),
            ],
        ),
        cli.table(
            "Workers",
            [
                (
                    w["name"] + (" (faulty)" if w["faulty"] else ""),
                    w["address"][:10] + "…",
                    w["jobs"],
                    f"{w['fuel']:,}",
                    format_cc(w["cost_planck"]),
                    w["score"],
                    w["tier"] + (" (excluded)" if w.get("excluded") else ""),
                )
                for w in s["workers"]
            ],
            header=("worker", "address", "jobs", "fuel", "cost", "quality score", "tier"),
        ),
    ]
    c = s["channels"]
    parts.append(
        cli.table(
            "Payment channels",
            [
                ("off-chain updates", c.get("offchain_updates", 0)),
                ("on-chain extrinsics (open + close)", c.get("channel_extrinsics", 0)),
                ("channels", c.get("channels", 0)),
            ],
        )
    )
    d = s["dispute"]
    if d:
        parts.append(
            cli.table(
                "Dispute",
                [
                    ("task", d["task_id"]),
                    ("accused", d["worker"][:10] + "…"),
                    ("verdict", d["verdict"]),
                    ("slashed", format_cc(d["slashed_planck"])),
                    ("rewarded", ", ".join(r[:10] + "…" for r in d["rewarded"])),
                ],
            )
        )
    k = s["checkpoint"]
    if k:
        parts.append(
            cli.table(
                "Checkpoint",
                [("arweave tx", k["tx_id"]), ("state hash", k["state_hash"]), ("size", k["size"])],
            )
        )
    m = s.get("migration") or {}
    if m:
        parts.append(
            cli.table(
                "VM-checkpoint migration",
                [
                    ("job", f"prime_count {m['prime_n']:,} = {m['output']}"),
                    ("A (killed with SIGKILL)", m["worker_a"][:10] + "…"),
                    ("B (resumed from A's checkpoint)", m["worker_b"][:10] + "…"),
                    (
                        "fuel: uninterrupted / A / B",
                        f"{m['fuel_uninterrupted']:,} / {m['fuel_a']:,} / {m['fuel_b']:,}",
                    ),
                    ("B paid (planck)", f"{m['paid_b_planck']:,}"),
                    ("A owed, kept as a debt (planck)", f"{m['owed_a_planck']:,}"),
                    ("A's debt paid once it was back (planck)", f"{m['debt_paid_planck']:,}"),
                    ("moved on after the kill (s)", m["moved_after_kill_s"]),
                ],
            )
        )
    parts.append(
        cli.table(
            "Balances (planck)",
            [
                (
                    b["account"],
                    f"{b['start_planck']:,}",
                    f"{b['end_planck']:,}",
                    f"{b['change_planck']:+,}",
                    f"{b['fees_planck']:,}",
                )
                for b in s["balances"]
            ],
            header=("account", "start", "end", "change", "fees paid"),
        )
    )
    r = s["reconciliation"]
    if r:
        parts.append(
            cli.table(
                "Reconciliation",
                [
                    ("sum of changes", f"{r['sum_of_changes_planck']:+,}"),
                    ("fees", f"{r['fees_planck']:,}"),
                    ("slashes burnt", f"{r['slashes_burnt_planck']:,}"),
                    ("residual (must be 0)", f"{r['residual_planck']:,}"),
                ],
            )
        )
    fiat = s.get("fiat") or {}
    if fiat:
        from ccnet.bridge.rates import format_usd

        bought, paid = fiat["purchase"], fiat["payout"]
        parts.append(
            cli.table(
                "Fiat bridge",
                [
                    (
                        "card purchase",
                        f"{format_usd(bought['cents'])} → {format_cc(bought['planck'])}",
                    ),
                    (
                        "PayPal payout",
                        f"{format_cc(paid['planck'])} → {format_usd(paid['gross_cents'])} gross, "
                        f"{format_usd(paid['fee_cents'])} fee, {format_usd(paid['net_cents'])} net "
                        f"({paid['status']})",
                    ),
                    (
                        "ledger, Stripe, PayPal, chain",
                        "balanced" if fiat["reconciliation"].get("balanced") else "UNBALANCED",
                    ),
                ],
            )
        )
    parts.append(
        cli.table("Wall time (s)", [(name, f"{sec:.1f}") for name, sec in s["phases_s"].items()])
    )
    parts.append(
        cli.table("Checks", [(name, "ok" if ok else "FAILED") for name, ok in s["checks"].items()])
    )
    return Group(*parts)

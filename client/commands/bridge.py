"""``ccnet bridge run|buy|payout|status|report|quote``: the fiat bridge (:mod:`ccnet.bridge`).

``run`` serves the bridge (configuration: README, "Fiat bridge"; secrets from the environment);
the other commands talk to a running bridge at ``--bridge`` (``$CCNET_BRIDGE_URL``,
default http://127.0.0.1:8470), except ``quote``, which only reads the rates. ``report``
exits with 5 when the reconciliation does not balance.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._common import CliContext, KeyOpt, UserError, format_cc, parse_amount

if TYPE_CHECKING:
    from ccnet.bridge.client import BridgeClient

__all__ = ["app"]

app = typer.Typer(help="Buy CC by card and cash out to PayPal (the fiat bridge).")

NOT_BALANCED = 5

BridgeOpt = Annotated[
    str,
    typer.Option("--bridge", help="URL of the bridge service.", envvar="CCNET_BRIDGE_URL"),
]
WaitOpt = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Wait until it is final (or --timeout).")
]
TimeoutOpt = Annotated[float, typer.Option(help="Seconds --wait waits at most.")]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--bridge-config",
        help="Bridge config file (env CCNET_BRIDGE_CONFIG; default ~/.config/ccnet/bridge.toml).",
        show_default=False,
    ),
]
DEFAULT_URL = "http://127.0.0.1:8470"


def _client(url: str) -> BridgeClient:
    from ccnet.bridge.client import BridgeClient

    return BridgeClient(url)


def _cell(name: str, value: Any) -> str:
    """A report or state field for a human table: integer ``*planck`` fields as CC,
    ``*cents`` fields as USD (the JSON keeps the integers); anything else as is (the
    rounding totals are exact fractions of a planck)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if name.endswith("planck"):
            return format_cc(value)
        if name.endswith("cents"):
            return _usd(value)
    return str(value)


def _usd(cents: int) -> str:
    from ccnet.bridge.rates import format_usd

    return format_usd(cents)


@app.command()
def run(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (8470).")] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="Ledger database: sqlite:///FILE or postgresql+psycopg://..."),
    ] = None,
    bridge_config: ConfigOpt = None,
) -> None:
    """Serve the bridge: card purchases, webhooks, payouts, reconciliation (until Ctrl-C
    or SIGTERM). Prints a JSON ready line on stdout."""
    from ccnet.bridge.config import load_bridge_config
    from ccnet.bridge.runner import serve

    cli = CliContext.of(ctx)
    with cli.errors():
        config = load_bridge_config(
            bridge_config,
            host=host,
            port=port,
            database_url=database_url,
            chain_url=cli.settings.url,
        )
        try:
            serve(config)
        except KeyboardInterrupt:
            pass


@app.command()
def buy(
    ctx: typer.Context,
    amount: Annotated[str, typer.Option("--amount", help="US dollars, e.g. 20 or 20.50.")],
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Account to credit: address, keystore name or dev URI (default $CCNET_KEY).",
            show_default=False,
        ),
    ] = None,
    payment_method: Annotated[
        str | None,
        typer.Option(
            help="A Stripe PaymentMethod id to pay with now (test mode: pm_card_visa); "
            "without it, pay with the printed client_secret in Stripe.js.",
            show_default=False,
        ),
    ] = None,
    request_id: Annotated[
        str | None,
        typer.Option(help="Idempotency key: repeating it never buys twice.", show_default=False),
    ] = None,
    bridge: BridgeOpt = DEFAULT_URL,
    wait: WaitOpt = True,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """Buy CC by card (at least $20)."""
    from ccnet.bridge.rates import parse_usd

    cli = CliContext.of(ctx)
    with cli.errors():
        who = to or os.environ.get("CCNET_KEY")
        if not who:
            raise UserError("name the account to credit: --to ADDRESS|KEY|//Alice")
        account = cli.address(who)
        cents = parse_usd(amount)
        with _client(bridge) as client:
            state = client.buy(account, cents, payment_method=payment_method, request_id=request_id)
            secret = state.get("client_secret")
            if wait and payment_method:
                state = client.wait(state["id"], timeout=timeout)
        _show(cli, "Purchase", state, extra={"client_secret": secret} if not payment_method else {})


@app.command()
def payout(
    ctx: typer.Context,
    email: Annotated[str, typer.Option(help="Your PayPal account's email (the only PII kept).")],
    amount: Annotated[str, typer.Option(help="CC to cash out, e.g. 60 or 60.5CC.")],
    key: KeyOpt,
    request_id: Annotated[
        str | None,
        typer.Option(help="Idempotency key: repeating it never pays twice.", show_default=False),
    ] = None,
    bridge: BridgeOpt = DEFAULT_URL,
    wait: WaitOpt = True,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """Cash out CC to PayPal: you sign a transfer to the treasury, the bridge pays the
    value minus its fee (net at least $50); a failed payout gives the CC back."""
    cli = CliContext.of(ctx)
    with cli.errors():
        planck = parse_amount(amount)
        if planck <= 0:
            raise UserError("the amount must be positive")
        signer = cli.keypair(key)
        chain = cli.chain()
        with _client(bridge) as client:
            state = client.payout(chain, signer, planck, email, request_id=request_id)
            if wait:
                state = client.wait(state["id"], timeout=timeout)
        _show(cli, "Payout", state)


@app.command()
def status(
    ctx: typer.Context,
    ident: Annotated[str, typer.Argument(help="A purchase (pur_...) or payout (pay_...) id.")],
    bridge: BridgeOpt = DEFAULT_URL,
) -> None:
    """Show a purchase or a payout."""
    cli = CliContext.of(ctx)
    with cli.errors():
        with _client(bridge) as client:
            state = (
                client.purchase(ident) if ident.startswith("pur_") else client.payout_status(ident)
            )
        _show(cli, "Purchase" if ident.startswith("pur_") else "Payout", state)


@app.command()
def report(ctx: typer.Context, bridge: BridgeOpt = DEFAULT_URL) -> None:
    """Reconcile the ledger with Stripe, PayPal and the chain (exit 5 if unbalanced)."""
    cli = CliContext.of(ctx)
    with cli.errors():
        with _client(bridge) as client:
            data = client.report()
    cli.emit(data, human=lambda: _report_tables(cli, data))
    if not data.get("balanced"):
        raise typer.Exit(NOT_BALANCED)


@app.command()
def quote(
    ctx: typer.Context,
    usd: Annotated[str | None, typer.Option(help="What this many dollars buy.")] = None,
    cc: Annotated[str | None, typer.Option(help="What cashing out this much CC pays.")] = None,
    fuel: Annotated[int | None, typer.Option(help="The price of this much fuel.")] = None,
    bridge_config: ConfigOpt = None,
) -> None:
    """Convert with the configured rates and fee (no service needed)."""
    from ccnet.bridge.config import load_bridge_config
    from ccnet.bridge.rates import parse_usd

    cli = CliContext.of(ctx)
    with cli.errors():
        rates = load_bridge_config(bridge_config).rates
        result: dict[str, Any] = {"rates": rates.as_dict()}
        rows: list[tuple[str, str]] = []
        if usd is not None:
            p = rates.purchase(parse_usd(usd))
            result["purchase"] = {"cents": p.cents, "planck": p.planck, "rounding": str(p.rounding)}
            rows.append((f"{_usd(p.cents)} buys", format_cc(p.planck)))
        if cc is not None:
            q = rates.payout(parse_amount(cc))
            result["payout"] = {
                "planck": q.planck,
                "gross_cents": q.gross_cents,
                "fee_cents": q.fee_cents,
                "net_cents": q.net_cents,
                "rounding": str(q.rounding),
            }
            rows.append(
                (f"{format_cc(q.planck)} pays", f"{_usd(q.net_cents)} (fee {_usd(q.fee_cents)})")
            )
        if fuel is not None:
            result["fuel"] = {"fuel": fuel, "cents": rates.fuel_cents(fuel)}
            rows.append((f"{fuel} fuel costs", _usd(rates.fuel_cents(fuel))))
        if not rows:
            raise UserError("ask for something: --usd, --cc or --fuel")
    cli.emit(result, human=lambda: cli.table("Quote", rows))


def _show(
    cli: CliContext, title: str, state: dict[str, Any], extra: dict[str, Any] | None = None
) -> None:
    data = {**state, **(extra or {})}
    rows: list[tuple[str, str]] = []
    for name, value in data.items():
        if value is None:
            continue
        rows.append(("amount" if name == "planck" else name, _cell(name, value)))
    cli.emit(data, human=lambda: cli.table(title, rows))


def _report_tables(cli: CliContext, data: dict[str, Any]) -> Any:
    from rich.console import Group

    verdict = "balanced" if data.get("balanced") else "NOT balanced"
    parts: list[Any] = [f"Reconciliation: {verdict}"]
    for problem in data.get("problems", []):
        parts.append(f"  problem: {problem}")
    days = data.get("by_day", {})
    if days:
        columns = sorted({c for row in days.values() for c in row})
        parts.append(
            cli.table(
                "By day",
                [[day, *(_cell(c, row.get(c, 0)) for c in columns)] for day, row in days.items()],
                header=["day", *columns],
            )
        )
    accounts = data.get("by_account", {})
    if accounts:
        columns = sorted({c for row in accounts.values() for c in row})
        parts.append(
            cli.table(
                "By account",
                [[a, *(_cell(c, row.get(c, 0)) for c in columns)] for a, row in accounts.items()],
                header=["account", *columns],
            )
        )
    for side in ("stripe", "paypal", "chain", "rounding", "in_flight"):
        parts.append(cli.table(side, [(k, _cell(k, v)) for k, v in data.get(side, {}).items()]))
    return Group(*parts)

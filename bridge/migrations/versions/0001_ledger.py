"""The ledger: purchases, Stripe events, payouts, treasury transfers, journal, meta.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "purchases",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("request_id", sa.String(128), nullable=False, unique=True),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("cents", sa.BigInteger(), nullable=False),
        sa.Column("planck", sa.BigInteger(), nullable=False),
        sa.Column("rate_num", sa.BigInteger(), nullable=False),
        sa.Column("rate_den", sa.BigInteger(), nullable=False),
        sa.Column("rounding_num", sa.BigInteger(), nullable=False),
        sa.Column("rounding_den", sa.BigInteger(), nullable=False),
        sa.Column("payment_intent", sa.String(64), nullable=True, unique=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("paid_at", sa.DateTime(), nullable=True),
        sa.Column("credited_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("payment_intent", sa.String(64), nullable=True, index=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "payouts",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("request_id", sa.String(128), nullable=False, unique=True),
        sa.Column("account", sa.String(64), nullable=False, index=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("planck", sa.BigInteger(), nullable=False),
        sa.Column("gross_cents", sa.BigInteger(), nullable=False),
        sa.Column("fee_cents", sa.BigInteger(), nullable=False),
        sa.Column("net_cents", sa.BigInteger(), nullable=False),
        sa.Column("fee_bps", sa.Integer(), nullable=False),
        sa.Column("rate_num", sa.BigInteger(), nullable=False),
        sa.Column("rate_den", sa.BigInteger(), nullable=False),
        sa.Column("rounding_num", sa.BigInteger(), nullable=False),
        sa.Column("rounding_den", sa.BigInteger(), nullable=False),
        sa.Column("extrinsic", sa.Text(), nullable=False),
        sa.Column("extrinsic_hash", sa.String(66), nullable=False, unique=True),
        sa.Column("scan_from", sa.BigInteger(), nullable=False),
        sa.Column("transfer_block", sa.String(66), nullable=True),
        sa.Column("sender_batch_id", sa.String(64), nullable=False, unique=True),
        sa.Column("payout_batch_id", sa.String(64), nullable=True),
        sa.Column("payout_item_id", sa.String(64), nullable=True),
        sa.Column("paypal_status", sa.String(32), nullable=True),
        sa.Column("paypal_fee_cents", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("taken_at", sa.DateTime(), nullable=True),
        sa.Column("done_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "transfers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(96), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(40), nullable=False),
        sa.Column("dest", sa.String(64), nullable=False),
        sa.Column("planck", sa.BigInteger(), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column("extrinsic", sa.Text(), nullable=True),
        sa.Column("extrinsic_hash", sa.String(66), nullable=True, unique=True),
        sa.Column("scan_from", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", sa.String(66), nullable=True),
        sa.Column("fee", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "postings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("entry", sa.String(96), nullable=False, index=True),
        sa.Column("account", sa.String(128), nullable=False, index=True),
        sa.Column("currency", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("ref", sa.String(40), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False, index=True),
        sa.UniqueConstraint("entry", "account", "currency"),
    )


def downgrade() -> None:
    for table in ("postings", "transfers", "payouts", "stripe_events", "purchases", "meta"):
        op.drop_table(table)

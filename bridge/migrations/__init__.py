"""Alembic migrations of the bridge ledger (``Database.migrate`` runs them)."""

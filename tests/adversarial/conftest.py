"""The adversarial tests attack the real runtime: the same Chopsticks dev chain fixture as
the integration tests (``devchain`` from tests/integration/conftest.py; pytest puts
tests/ on the import path)."""

from integration.conftest import devchain  # type: ignore[import-not-found]

__all__ = ["devchain"]

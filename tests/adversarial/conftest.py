"""The adversarial tests attack the real runtime: the same Chopsticks dev chain fixture as
the integration tests (``devchain``, from tests/integration/conftest.py)."""

from integration.conftest import devchain

__all__ = ["devchain"]

"""The assistant's tests use reception's buyers and online agents."""

from tests.reception.conftest import make_agent, make_buyer

__all__ = ["make_agent", "make_buyer"]

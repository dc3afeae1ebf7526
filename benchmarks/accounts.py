"""The benchmarks' staff accounts are hashed at Argon2id's smallest cost, as the tests'
are. The product's own cost is meant for people's passwords; a benchmark makes dozens of
accounts and times no sign-in, so paying that cost per account only delays the figures.
A hash carries its cost, so the servers a benchmark starts verify these as quickly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher


@contextmanager
def quick_hashes() -> Iterator[None]:
    from xiaoer.core import auth

    kept = auth._hasher
    auth._hasher = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    try:
        yield
    finally:
        auth._hasher = kept

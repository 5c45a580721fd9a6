"""Shared fixtures: the shipped municipalities and the illustrative base table (computed once)."""

import pytest

from solver.data import load_municipalities
from solver.shares import compute_base_shares


@pytest.fixture(scope="session")
def municipalities():
    return load_municipalities()


@pytest.fixture(scope="session")
def base(municipalities):
    return compute_base_shares(municipalities)

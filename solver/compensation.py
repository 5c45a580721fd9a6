"""State compensation that follows a share (2026 rules), in whole kronor, computed exactly."""

from __future__ import annotations

from fractions import Fraction

from solver.domain import TOTAL_UNITS

FIXED_SEK_PER_YEAR = 500_000
VARIABLE_SEK_PER_EXPECTED_CHILD = 9_450
SEK_PER_ALLOCATED_CHILD = 52_000
SEK_PER_CHILD_DAY = 1_000


def expected_children(share_units: int, forecast: int) -> int:
    """round(share × forecast) to the nearest whole child, halves up (the report: 9.45‰ × 1,500 → 14)."""
    exact = Fraction(share_units * forecast, TOTAL_UNITS)
    return int(exact + Fraction(1, 2)) if exact >= 0 else -int(-exact + Fraction(1, 2))


def variable_compensation(share_units: int, forecast: int) -> int:
    """The variable readiness compensation, which follows a redistributed share to its receiver."""
    return VARIABLE_SEK_PER_EXPECTED_CHILD * expected_children(share_units, forecast)

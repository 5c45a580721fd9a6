"""State compensation that follows a share (2026 rules), in whole kronor, computed exactly."""

from __future__ import annotations

from solver.domain import TOTAL_UNITS

FIXED_SEK_PER_YEAR = 500_000
VARIABLE_SEK_PER_EXPECTED_CHILD = 9_450
SEK_PER_ALLOCATED_CHILD = 52_000
SEK_PER_CHILD_DAY = 1_000


def expected_children(share_units: int, forecast: int) -> int:
    """round(share × forecast) to the nearest whole child, halves up (the report: 9.45‰ × 1,500 → 14)."""
    scaled = share_units * forecast  # share × forecast is scaled / TOTAL_UNITS exactly: rounded in integers
    if scaled >= 0:
        return (2 * scaled + TOTAL_UNITS) // (2 * TOTAL_UNITS)
    return -((TOTAL_UNITS - 2 * scaled) // (2 * TOTAL_UNITS))


def variable_compensation(share_units: int, forecast: int) -> int:
    """The variable readiness compensation, which follows a redistributed share to its receiver."""
    return VARIABLE_SEK_PER_EXPECTED_CHILD * expected_children(share_units, forecast)

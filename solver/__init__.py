"""andelstal: exact share tables and the national redistribution of allocation shares (andelstal)."""

from solver.domain import InputError, Policy
from solver.redistribute import Proposal, propose

__all__ = ["InputError", "Policy", "Proposal", "propose"]
__version__ = "0.1.0"

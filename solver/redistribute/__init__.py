"""The national redistribution model: proportional targets, a solver-neutral MIP, two backends."""

from solver.redistribute.proposal import Proposal, propose

__all__ = ["Proposal", "propose"]

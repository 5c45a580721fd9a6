"""Every tuning choice of the solvers in one place, passed explicitly (SolveOptions.tuning), never a module switch.

Work is CP-SAT's deterministic time (seconds of it), so a limit gives the same answer on any machine and under any
load. The measurements behind each value are in benchmarks/README.md ("Tuning"); a test that compares two paths
passes its own Tuning (dataclasses.replace), and nothing else changes one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Tuning:
    # --- the exact core (leximin.py) ----------------------------------------------------------------------
    hint: bool = True  # each optimisation starts from the last table (a whole hint)
    packing_nodes: int = 2_000_000  # nodes the packing search may take on a level-1 check before CP-SAT decides it
    packing_node_work: float = 5e-7  # the work a node of the packing search counts for (core and driver alike): a
    # node is a partial group built, or a giver type passed over by a state or a group tried (packing.py)

    # --- the staged driver (solve.py): the first stage is the largest deviation --------------------------
    counts_from_givers: int = 8  # markets with at least this many givers decide the largest deviation on counts
    deviation_packing_nodes: int = 400_000  # nodes the packing search of a deviation check may take (0: CP-SAT)
    speculate: int = 2  # the deviation at which the later stages start beside the first check (0: they do not)
    ahead: bool = True  # the later stages run beside the check that settles the largest deviation (a thread)
    aggregate_stages: bool = True  # the stages after the first on the aggregate model where it applies
    simplicity_on_counts: Literal["stalled", "always", "never"] = "stalled"  # bound the volume-and-simplicity
    # stage on counts where its first slice does not settle it
    bound_first_slice: float = 0.2  # work a lexicographic aggregate stage searches from its bound first
    peek_slice: float = 0.02  # work the last stage spends finding its bound before the tie-break tries to reach it
    peek_order: float = 1.0  # work the tie-break may spend reaching that bound (at most a quarter of what is left)
    bounds_slice: float = 0.002  # work each aggregate stage spends finding its bound before one search tries to
    # reach them all (0: it does not)
    bounds_settle: float = 0.05  # work spent searching a stage from its bound where the next one's look finds that
    # no table reaches it (0: give up there)
    bounds_presolve: bool = False  # CP-SAT's presolve in the bound looks
    bounds_probing: bool = False  # CP-SAT's probing in the bound looks
    bounds_order: float = 0.1  # work the search for every bound at once may spend (at most a quarter of what is left)
    tie_guided: bool = True  # the tie-break's search from the bounds takes the last bound as its objective

    # --- CP-SAT sessions of the driver (cpsat.py) --------------------------------------------------------
    remembered_from: int = 256  # variables: a smaller model is translated afresh rather than remembered
    tie_mir_cuts: bool = False  # MIR cuts in the tie-break's search
    tie_inactive: int = 1  # the tie-break's LP drops a constraint inactive at this many LP optima (CP-SAT: 100)
    tie_split: bool = True  # the tie-break's search runs beside the same search split on its first open variable
    tie_split_from: int = 256  # variables: a smaller model's search is not split

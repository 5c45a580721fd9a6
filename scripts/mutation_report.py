"""Summarise a mutmut run (`make mutation`): per module the mutants, how many the tests killed, the score, and
every survivor with its diff, as Markdown on standard output."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from datetime import date

MUTMUT = [sys.executable, "-m", "mutmut"]
# survivors that no test can kill, and why (by mutant name; numbers shift when a function changes)
EQUIVALENT = {
    # solver/redistribute/check.py
    'x_check_stages__mutmut_13': "the default of max() over a market's participants: a market always has some",
    'x_check_stages__mutmut_15': 'the same default removed: never reached for the same reason',
    'x_check_stages__mutmut_18': 'the same default as 1: never reached for the same reason',
    'x__sorted_ratios__mutmut_6': "a bound giver with an effective offer of 0 has no ratio and adds 0 to its partner's "
                                  'bound part either way',
    'x__sorted_ratios__mutmut_14': 'a bound giver always has a partner, so the fallback key is never used',
    # solver/apportion.py
    'x__clamped_quotas__mutmut_16': 'at λ·w = floor the free quota λ·w equals the floor: the same Fraction either way',
    'x__clamped_quotas__mutmut_22': 'at λ·w = cap the free quota equals the cap: the same Fraction either way',
    'x__hamilton__mutmut_22': 'adds parties whose quota is whole (remainder 0): they sort after every positive remainder, '
                              'and the seats left never exceed the parties with one',
    'x__hamilton__mutmut_23': 'a party at its cap has quota ≤ cap = seats, so `quota > seats` already leaves it out',
    'x__hamilton__mutmut_24': 'adds parties with remainder 0, as mutant 22: never reached by the seats left',
    'x__hamilton__mutmut_35': 'no seat left means every quota is whole, so there are no candidates: 0 < 0 fails either way',
    'x__hamilton__mutmut_36': 'where every candidate wins, each tied party won, so no tie is reported either way',
    # solver/redistribute/leximin.py
    'xǁCoreǁ__init____mutmut_24': 'y ≤ 2: the one-receiver rule keeps Σy ≤ 1, and without it a y of 2 only counts an extra '
                                  'transfer, which the transfers level never chooses',
    'xǁCoreǁ__init____mutmut_86': 'None is as false as False where `solve` reads it (`if not core.feasible`)',
    'xǁCoreǁ__init____mutmut_88': 'once a partner cannot take the transfer the market is infeasible; the constraints not '
                                  'added are never solved',
    'xǁCoreǁ_reach__mutmut_4': "no lower bound exceeds its member's wish where _reach is called, so only the empty "
                               'expression decides, and an empty expression with a literal is forced false as False is',
    'xǁCoreǁ_at_least__mutmut_10': "the members and lows have the same length: zip's strictness never fires",
    'xǁCoreǁ_at_least__mutmut_13': 'as 10',
    'xǁCoreǁ_at_least__mutmut_14': 'as 10',
    'xǁCoreǁ_at_least__mutmut_17': 'sure members (least 0) occur only at the level 0, where every member is sure and the '
                                   'count is met either way',
    'xǁCoreǁleximin__mutmut_3': 'an objective of None and of {} are both no objective (`if objective:`)',
    'xǁCoreǁleximin__mutmut_5': 'as 3',
    'xǁCoreǁleximin__mutmut_32': 'not killed, a path no test reaches yet: a stop right after a level, before the next solve '
                                 'keeps a table again',
    'xǁCoreǁleximin__mutmut_34': 'at 1 `_above` finds no member that can exceed it (every least amount exceeds the wish) '
                                 'and the loop ends with need 0',
    'xǁCoreǁleximin__mutmut_35': 'return and break both end the method here',
    'xǁCoreǁleximin__mutmut_38': '_above reads the table only where no member can exceed the value, and then returns need '
                                 '0, which ends the loop',
    'xǁCoreǁ_highest__mutmut_9': 'speed only (the same table and levels; more solves, so a run under a work limit may prove '
                                 'less): a candidate above 1 is refuted and never returned',
    'xǁCoreǁ_highest__mutmut_11': 'Fraction(a, None) is Fraction(a): more candidates below the floor, which the search '
                                  'starts above (speed only)',
    'xǁCoreǁ_highest__mutmut_12': 'as 11: every candidate kept, the search starts from what the table reaches (speed only)',
    'xǁCoreǁ_highest__mutmut_13': 'as 11',
    'xǁCoreǁ_highest__mutmut_24': 'speed only (the same table and levels; more solves, so a run under a work limit may '
                                  'prove less): a level returned too low is raised by the next round of the loop (`_above` '
                                  'proves how many exceed it, and the next search starts from there)',
    'xǁCoreǁ_highest__mutmut_40': 'an objective of None and of {} are both no objective',
    'xǁCoreǁ_highest__mutmut_42': 'as 40',
    'xǁCoreǁ_highest__mutmut_46': 'speed only (the same table and levels; more solves, so a run under a work limit may '
                                  'prove less), as 24: skipping a candidate can only return a lower level, which the loop '
                                  'raises again',
    'xǁCoreǁ_highest__mutmut_59': 'speed only (the same table and levels; more solves, so a run under a work limit may '
                                  'prove less): another probe order of the same binary search',
    'xǁCoreǁ_above__mutmut_14': 'the coefficients of `free` are not read; only its keys are',
    'xǁCoreǁ_above__mutmut_17': 'no literal of `_above` is True (its least amounts are at least 1)',
    'xǁCoreǁ_above__mutmut_28': 'the objective doubled has the same optimum',
    'xǁCoreǁ_above__mutmut_30': "an assertion's message for a state no input reaches",
    'xǁCoreǁ_above__mutmut_31': 'as 30',
    'xǁCoreǁlater__mutmut_5': 'twice the count of cross-county transfers has the same minimum',
    'xǁCoreǁlater__mutmut_31': '`_optimum` minimises for every sense but "max"',
    'xǁCoreǁlater__mutmut_39': 'as 31',
    'xǁCoreǁlater__mutmut_40': 'as 31',
    'xǁCoreǁlater__mutmut_50': 'as 31',
    'xǁCoreǁlater__mutmut_58': 'as 31',
    'xǁCoreǁlater__mutmut_59': 'as 31',
    'xǁCoreǁlater__mutmut_70': 'as 31',
    'xǁCoreǁlater__mutmut_78': 'as 31',
    'xǁCoreǁlater__mutmut_79': 'as 31',
    'xǁCoreǁlater__mutmut_95': "an assertion's message for a state no input reaches",
    'xǁCoreǁlater__mutmut_96': 'as 95',
    'xǁCoreǁ_optimum__mutmut_5': '−2 × the expression has the same maximum as −1 ×',
    'xǁCoreǁ_optimum__mutmut_9': '2 × the expression has the same minimum',
    'xǁCoreǁ_optimum__mutmut_17': "an assertion's message for a state no input reaches",
    'xǁCoreǁ_optimum__mutmut_18': 'as 17',
    'xǁCoreǁ_population__mutmut_21': 'a term |P·share − K·population| of 0 would need a share exactly proportional to the '
                                     "population; no municipality's is",
    'x_solve__mutmut_47': 'a table is kept exactly when the solution is not NONE, so `and` and `or` agree',
    'xǁCoreǁ_solve__mutmut_26': "the depth-first order's expression 2·x orders the search as x does",
    'xǁCoreǁ_solve__mutmut_30': "OR-Tools 9.15 stores None in the proto's bool as false, as False; equivalent in this "
                                'version only',
    'xǁCoreǁ_solve__mutmut_32': 'a search without an objective ends at its first solution anyway',
    'xǁCoreǁ_solve__mutmut_33': 'as 32',
    'xǁCoreǁ_solve__mutmut_50': 'not killed, a path no test reaches yet: a stop (work limit or cancel) inside the tie- '
                                "break's depth-first search, which the corpus benchmark meets",
    'xǁCoreǁ_solve__mutmut_51': 'not killed, a path no test reaches yet: an optimisation stopped after finding a solution '
                                'would be taken as proven',
    'xǁCoreǁ_solve__mutmut_52': 'as 50',
    'xǁCoreǁ_solve__mutmut_55': 'not killed, a path no test reaches yet: an optimisation stopped after finding a solution '
                                'better than the table kept',
    'xǁCoreǁ_solve__mutmut_56': 'as 55 (a TypeError there)',
    'xǁCoreǁ_solve__mutmut_58': 'MODEL_INVALID is a programming error that no input reaches; its message is not asserted',
    'xǁCoreǁ_solve__mutmut_64': 'a stop by the work limit leaves no work (left ≤ 0), so the first operand decides; with a '
                                'cancel set the others decide alike',
    'xǁCoreǁ_solve__mutmut_65': 'as 64',
    'xǁCoreǁ_solve__mutmut_66': 'left is a sum of floats: exactly 0 after a stop is not met',
    'xǁCoreǁ_solve__mutmut_67': 'differs only for a cancel that arrives within the last unit of work, which no test times',
}


def main() -> int:
    listing = subprocess.run([*MUTMUT, "results", "--all", "true"], capture_output=True, text=True, check=True)
    states: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for line in listing.stdout.splitlines():
        name, _, state = line.strip().rpartition(": ")
        if name:
            module = name.split(".x")[0].split(".xǁ")[0]
            states[module][state].append(name)
    print(f"# Mutation testing, {date.today().isoformat()}\n")
    print("`make mutation` (mutmut; the modules and tests in pyproject.toml's [tool.mutmut]). Killed includes "
          "timeouts and crashes (a mutant that makes the tests hang or crash is caught). Every survivor is listed "
          "with the reason no test kills it: equivalent (the same answers by another path), speed only, a message "
          "no input reaches, or, said as such, a path no test reaches yet. How each run was made: "
          "benchmarks/README.md.\n")
    print("| module | mutants | killed | survived | no tests | score |")
    print("|---|---|---|---|---|---|")
    for module, by in sorted(states.items()):
        total = sum(len(v) for v in by.values())
        killed = len(by["killed"]) + len(by["timeout"]) + len(by["segfault"])
        print(f"| `{module}` | {total} | {killed} | {len(by['survived'])} | {len(by['no tests'])} | "
              f"{100 * killed / total:.1f} % |")
    for module, by in sorted(states.items()):
        survivors = by["survived"] + by["no tests"]
        if not survivors:
            continue
        print(f"\n## Survivors in `{module}`\n")
        for name in survivors:
            shown = subprocess.run([*MUTMUT, "show", name], capture_output=True, text=True).stdout
            diff = [line for line in shown.splitlines() if line.startswith(("-    ", "+    ", "- ", "+ "))
                    and not line.startswith(("---", "+++"))]
            short = name.rsplit(".", 1)[-1]
            why = EQUIVALENT.get(short) or EQUIVALENT.get(short.split("ǁ")[-1], "not yet explained or killed")
            # a statement over several lines: its removed lines, then its added ones, each joined
            old = " ".join(d[1:].strip() for d in diff if d.startswith("-"))
            new = " ".join(d[1:].strip() for d in diff if d.startswith("+"))
            print(f"- `{short}`: `{old}` → `{new}` ({why})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

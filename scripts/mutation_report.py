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
    "x_check_stages__mutmut_13": "the default of max() over a market's participants: a market always has some",
    "x_check_stages__mutmut_15": "the same default removed: never reached for the same reason",
    "x_check_stages__mutmut_18": "the same default as 1: never reached for the same reason",
    "x__sorted_ratios__mutmut_6": "a bound giver with an effective offer of 0 has no ratio and adds 0 to its partner's "
                                  "bound part either way",
    "x__sorted_ratios__mutmut_14": "a bound giver always has a partner, so the fallback key is never used",
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
          "timeouts (a mutant that makes the tests hang is caught).\n")
    print("| module | mutants | killed | survived | no tests | score |")
    print("|---|---|---|---|---|---|")
    for module, by in sorted(states.items()):
        total = sum(len(v) for v in by.values())
        killed = len(by["killed"]) + len(by["timeout"])
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
            why = EQUIVALENT.get(short.split("ǁ")[-1], "not yet explained or killed")
            print(f"- `{short}`: " + " → ".join(f"`{d[1:].strip()}`" for d in diff[:2]) + f" ({why})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The one benchmark runner: every benchmark in turn, each writing benchmarks/results/<name>.json.

Usage: python benchmarks/run.py [propose] [simulate] [sweep] [load]   (all when none is named)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ALL = {
    "propose": ["--repeat", "5", "--time-limit", "5"],
    "simulate": [],
    "sweep": [],
    "load": [],
}


def main() -> int:
    chosen = sys.argv[1:] or list(ALL)
    unknown = [c for c in chosen if c not in ALL]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(ALL)}", file=sys.stderr)
        return 2
    for name in chosen:
        print(f"== {name}", flush=True)
        code = subprocess.call([sys.executable, str(HERE / f"{name}.py"), *ALL[name]])
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())

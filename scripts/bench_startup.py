"""How long the ``rayab`` command takes to start: ``--help`` and a light subcommand's ``--help``, as whole
processes, each measured ``--repeat`` times; prints the medians and the machine's load.

    .venv/bin/python scripts/bench_startup.py --repeat 9

Target (the house rules): under 1 s for both on a quiet machine. The reference is ``python -c pass`` measured in the
same run: the interpreter's own start, which no command can beat.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

RAYAB = str(Path(sys.executable).with_name("rayab"))


def _wall(command: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    python = _wall([sys.executable, "-c", "pass"], args.repeat)
    print(f"load average {load:.1f}; medians of {args.repeat} runs")
    print(f"{'python -c pass':<24} {python:6.3f} s  (the floor)")
    for label, command in (("rayab --help", [RAYAB, "--help"]), ("rayab sql --help", [RAYAB, "sql", "--help"]),
                           ("rayab results --help", [RAYAB, "results", "--help"])):
        wall = _wall(command, args.repeat)
        print(f"{label:<24} {wall:6.3f} s  ({wall / python:4.1f}x the floor)")


if __name__ == "__main__":
    main()

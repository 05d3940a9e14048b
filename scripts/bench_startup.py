"""How long the ``rayab`` command takes to start, as whole processes, each measured ``--repeat`` times; prints the
medians and the machine's load.

``--help`` and light subcommands' ``--help``::

    .venv/bin/python scripts/bench_startup.py --repeat 9

Target (the house rules): under 1 s for both on a quiet machine. The reference is ``python -c pass`` measured in the
same run: the interpreter's own start, which no command can beat.

A cold hour (``--hour``): ``rayab run-hour`` on a fresh local Ray each time (first run of a process: Ray's start,
worker start, imports, compiled kernels loaded from their cache, shutdown), after ``bash scripts/demo.sh``::

    .venv/bin/python scripts/bench_startup.py --repeat 5 --hour 2026-11-23T03 --logs ./rayab-logs

Target (issue 16): under 10 s on an idle machine. The reference, run alternately with it so both see the same load,
is the least a process that uses a local Ray can do: ``ray.init(num_cpus=2)`` without the dashboard, two empty
tasks, ``ray.shutdown()``. ``--compare OTHER/bin/rayab`` adds another install's command to the same rounds (e.g.
the previous version's, for a before/after pair).
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

# Ray's own cold start, the reference of a cold hour: start, two empty tasks (one per CPU), stop
BARE_RAY = """
import logging, ray
ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
@ray.remote
def nothing():
    return None
ray.get([nothing.remote(), nothing.remote()])
ray.shutdown()
"""


def _once(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def _wall(command: list[str], repeat: int) -> float:
    return statistics.median(_once(command) for _ in range(repeat))


def _help_startup(repeat: int) -> None:
    python = _wall([sys.executable, "-c", "pass"], repeat)
    print(f"{'python -c pass':<24} {python:6.3f} s  (the floor)")
    for label, command in (("rayab --help", [RAYAB, "--help"]), ("rayab sql --help", [RAYAB, "sql", "--help"]),
                           ("rayab results --help", [RAYAB, "results", "--help"])):
        wall = _wall(command, repeat)
        print(f"{label:<24} {wall:6.3f} s  ({wall / python:4.1f}x the floor)")


def _cold_hour(args: argparse.Namespace) -> None:
    hour = ["run-hour", "--hour", args.hour, "--logs", args.logs, "--quiet"]
    if args.warehouse:
        hour += ["--warehouse", args.warehouse]
    commands = {"bare Ray (reference)": [sys.executable, "-c", BARE_RAY], "rayab run-hour": [RAYAB, *hour]}
    for other in args.compare:
        commands[f"run-hour of {other}"] = [other, *hour]
    times: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(args.repeat):  # rounds: every command once per round, so each pair shares the moment's load
        for label, command in commands.items():
            times[label].append(_once(command))
    reference = statistics.median(times["bare Ray (reference)"])
    for label, walls in times.items():
        wall = statistics.median(walls)
        diffs = [w - r for w, r in zip(walls, times["bare Ray (reference)"], strict=True)]
        print(f"{label:<28} {wall:6.2f} s  ({wall / reference:4.2f}x the reference, median paired difference "
              f"{statistics.median(diffs):+5.2f} s; runs {' '.join(f'{w:.1f}' for w in walls)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--hour", default=None, help="measure a cold run-hour of this hour instead of --help")
    parser.add_argument("--logs", default="./rayab-logs", help="the logs of --hour (default ./rayab-logs)")
    parser.add_argument("--warehouse", default=None, help="the warehouse of --hour (default ./rayab-warehouse)")
    parser.add_argument("--compare", action="append", default=[], metavar="RAYAB",
                        help="another rayab executable to run in the same rounds (repeatable)")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} (1 min); medians of {args.repeat} runs")
    if args.hour:
        _cold_hour(args)
    else:
        _help_startup(args.repeat)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()

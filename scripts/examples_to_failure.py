"""Examples-to-failure: how many examples the specification runs before a mutant of the catalogue fails.

    python scripts/examples_to_failure.py                 # seeds 0..4, pytest -n 2; markdown on stdout
    python scripts/examples_to_failure.py --seeds 10 --workers 0 --out ETF.md --json etf.json

Runs tests/test_power.py once per seed (``EMBEDSPEC_POWER_SEED``) and reads the
line each catalogue run logs (``EMBEDSPEC_POWER_LOG``). For a clause that fails,
the number recorded is the 1-based index of its first failing example: 1 means
the first example (often an explicit ``@example`` at a boundary) already fails.
A mutant is caught at the smallest such index over the clauses it declares.

Reported per mutant: the median over seeds of that index (the target is at most
10), and of the slowest of its declared clauses; and every seed at which a
declared clause did not fail at all within the dev profile's examples.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 10
BINS = [(1, 1), (2, 2), (3, 5), (6, 10), (11, 20), (21, 10**9)]


def run_seed(seed, workers, folder, extra):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "EMBEDSPEC_IMPL")}
    env.update(EMBEDSPEC_POWER_SEED=str(seed), EMBEDSPEC_POWER_LOG=str(folder))
    command = [sys.executable, "-m", "pytest", "tests/test_power.py", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
               "-o", "addopts=", "--tb=line", *(["-n", str(workers)] if workers else []), *extra]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    tail = [line for line in result.stdout.splitlines() if line.strip()][-1:]
    print(f"seed {seed}: {time.perf_counter() - started:.0f} s, {tail[0] if tail else result.returncode}",
          file=sys.stderr, flush=True)


def load(folder):
    runs = []
    for path in Path(folder).glob("*.jsonl"):
        runs += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return runs


def analyse(runs):
    mutants = {}
    for run in runs:
        if not run["catches"]:
            continue  # a variant: nothing to catch
        entry = mutants.setdefault(run["mutant"], dict(catches=run["catches"], caught=[], slowest=[], missed=[]))
        found = {c: n for c, n in run["examples_to_failure"].items() if c in run["catches"]}
        missing = sorted(set(run["catches"]) - set(found))
        entry["caught"].append(min(found.values()) if found else None)
        entry["slowest"].append(None if missing else max(found.values()))
        if missing:
            entry["missed"].append((run["seed"], missing))
    for entry in mutants.values():
        caught = [n for n in entry["caught"] if n is not None]
        entry["median"] = statistics.median(caught) if caught else None
        complete = [n for n in entry["slowest"] if n is not None]
        entry["median_slowest"] = statistics.median(complete) if complete else None
    return mutants


def render(mutants, seeds):
    medians = [e["median"] for e in mutants.values()]
    lines = [f"Examples-to-failure over seeds {', '.join(map(str, seeds))} of the power run (dev examples: "
             "explicit `@example`s first, then 20 generated), for the "
             f"{len(mutants)} mutants of the catalogue (variants have nothing to catch).", ""]
    caught = [m for m in medians if m is not None]
    if caught:
        lines += [f"Median over mutants of the median examples-to-failure: {statistics.median(caught):g}; "
                  f"worst: {max(caught):g}; within {TARGET}: {sum(m <= TARGET for m in caught)} of {len(medians)}.",
                  ""]
    lines += ["| examples to failure (median over seeds) | mutants | ... by their slowest declared clause |",
              "| --- | ---: | ---: |"]
    slowest = [e["median_slowest"] for e in mutants.values()]
    for low, high in BINS:
        label = str(low) if low == high else (f"{low}-{high}" if high < 10**9 else f"> {low - 1}")
        count = sum(m is not None and low <= m <= high for m in medians)
        count_slowest = sum(m is not None and low <= m <= high for m in slowest)
        lines.append(f"| {label} | {count} | {count_slowest} |")
    lines.append(f"| never (a declared clause missed at every seed) | {sum(m is None for m in medians)} | "
                 f"{sum(m is None for m in slowest)} |")
    lines.append("")
    late = sorted((name for name, e in mutants.items() if e["median"] is None or e["median"] > TARGET))
    if late:
        lines += [f"Mutants caught later than {TARGET} examples in the median run:", ""]
        lines += [f"- `{name}`: median {mutants[name]['median']}" for name in late]
        lines.append("")
    slow_clauses = sorted(name for name, e in mutants.items()
                          if e["median_slowest"] is not None and e["median_slowest"] > TARGET)
    if slow_clauses:
        lines += [f"Mutants whose slowest declared clause needs more than {TARGET} examples in the median run:", ""]
        lines += [f"- `{name}`: median {mutants[name]['median_slowest']}" for name in slow_clauses]
        lines.append("")
    missed = {name: e["missed"] for name, e in mutants.items() if e["missed"]}
    if missed:
        lines += ["Seeds at which a declared clause did not fail within the dev examples (flaky catches):", ""]
        for name, misses in sorted(missed.items()):
            shown = "; ".join(f"seed {seed}: {', '.join(clauses)}" for seed, clauses in misses)
            lines.append(f"- `{name}`: {shown}")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    parser.add_argument("--workers", type=int, default=2, help="xdist workers (default 2; 0: serial)")
    parser.add_argument("--from-log", help="analyse the logs already in this folder instead of running")
    parser.add_argument("--out", help="write the markdown here as well")
    parser.add_argument("--json", help="write the per-mutant figures here")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --), e.g. -k sinusoidal")
    options = parser.parse_args(argv)
    seeds = list(range(options.seeds))
    if options.from_log:
        runs = load(options.from_log)
        seeds = sorted({r["seed"] for r in runs})
    else:
        with tempfile.TemporaryDirectory() as folder:
            for seed in seeds:
                run_seed(seed, options.workers, folder, options.pytest_args)
            runs = load(folder)
    mutants = analyse(runs)
    report = render(mutants, seeds)
    print(report)
    if options.out:
        Path(options.out).write_text(report)
    if options.json:
        Path(options.json).write_text(json.dumps(mutants, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

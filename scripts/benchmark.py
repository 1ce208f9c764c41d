"""Benchmark: the specification against the reference, and the mutant catalogue, for wall time and examples per second.

    python scripts/benchmark.py                  # everything, once; a markdown report on stdout
    python scripts/benchmark.py --repeat 3       # the median of three runs of each configuration
    python scripts/benchmark.py --only spec      # or: floor, catalogue, startup
    python scripts/benchmark.py --out BENCH.md --json bench.json

Not a timed test: timings depend on the machine and its load, so they are
measured and published (docs/dev/benchmarks.md), never asserted.

What is measured, each in a fresh pytest process exactly as a user runs it:
- ``spec``: ``pytest spec`` against the reference in the ``dev`` and ``ci``
  profiles, serial and with ``-n 2``;
- ``floor``: the same runs with every property's body replaced by an empty one
  (same strategies, same explicit and generated examples, same fixtures): what
  Hypothesis, pytest and the process cost before any property does any work;
- ``catalogue``: ``pytest tests/test_power.py`` (every semantic mutant and
  variant), serial and with ``-n 2``;
- ``startup``: ``import torch`` and ``pytest --collect-only spec``.
Examples are counted by tests/inline.py's counter (``-p tests.inline``), in
every xdist worker.
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTEST = [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", "-q", "-o", "addopts=",
          "-W", "ignore::pytest.PytestAssertRewriteWarning"]
SUMMARY = re.compile(r"(\d+) (passed|failed|skipped|error|errors|xfailed|xpassed|deselected)")


def _environment(extra):
    env = dict(os.environ)
    for name in ("PYTEST_ADDOPTS", "EMBEDSPEC_IMPL", "EMBEDSPEC_POWER_SEED", "EMBEDSPEC_EMPTY_BODIES",
                 "EMBEDSPEC_EXAMPLES_LOG", "EMBEDSPEC_POWER_LOG"):
        env.pop(name, None)
    env.update(extra)
    return env


def _outcomes(text):
    counts = {}
    tail = [line for line in text.splitlines() if " in " in line and ("passed" in line or "failed" in line
                                                                      or "skipped" in line)]
    for number, kind in SUMMARY.findall(tail[-1] if tail else ""):
        counts[kind.rstrip("s") if kind.startswith("error") else kind] = int(number)
    return counts


def _examples(folder):
    total, records = 0, {}
    for path in Path(folder).glob("*.json"):
        for nodeid, record in json.loads(path.read_text()).items():
            records[nodeid] = record
            total += record["examples"]
    return total, records


def _power_examples(folder):
    total = 0
    for path in Path(folder).glob("*.jsonl"):
        for line in path.read_text().splitlines():
            total += json.loads(line)["examples"]
    return total


def run_pytest(arguments, *, env=None, count="examples"):
    """One pytest process: wall seconds, outcome counts, examples run, per-test records."""
    with tempfile.TemporaryDirectory() as folder:
        extra = dict(env or {})
        if count == "examples":
            extra["EMBEDSPEC_EXAMPLES_LOG"] = folder
            arguments = [*arguments, "-p", "tests.inline"]
        elif count == "power":
            extra["EMBEDSPEC_POWER_LOG"] = folder
        started = time.perf_counter()
        result = subprocess.run([*PYTEST, *arguments], cwd=ROOT, env=_environment(extra), capture_output=True,
                                text=True)
        wall = time.perf_counter() - started
        outcomes = _outcomes(result.stdout)
        if count == "examples":
            examples, records = _examples(folder)
        elif count == "power":
            examples, records = _power_examples(folder), {}
        else:
            examples, records = 0, {}
    if result.returncode not in (0, 1, 5):
        sys.stderr.write(result.stdout[-3000:] + result.stderr[-3000:])
    return dict(wall=wall, code=result.returncode, outcomes=outcomes, examples=examples, records=records)


def measure(name, arguments, repeat, **kwargs):
    runs = [run_pytest(arguments, **kwargs) for _ in range(repeat)]
    walls = [r["wall"] for r in runs]
    best = sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]  # the median run
    row = dict(name=name, command="pytest " + " ".join(arguments), wall=statistics.median(walls),
               walls=[round(w, 2) for w in walls], examples=best["examples"], outcomes=best["outcomes"],
               code=best["code"])
    row["examples_per_second"] = row["examples"] / row["wall"] if row["wall"] else 0.0
    print(f"  {name:38} {row['wall']:7.1f} s  {row['examples']:7d} examples  "
          f"{row['examples_per_second']:7.0f}/s  {row['outcomes']}", file=sys.stderr, flush=True)
    return row, best["records"]


def _time_command(command, repeat):
    walls = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=_environment({}), capture_output=True)
        walls.append(time.perf_counter() - started)
    return statistics.median(walls)


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    import hypothesis
    import torch

    return dict(date=datetime.datetime.now().isoformat(timespec="minutes"), cpu=cpu, cores=os.cpu_count(),
                load_before=round(load, 2), python=platform.python_version(), torch=torch.__version__,
                hypothesis=hypothesis.__version__, system=platform.platform())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration; the median is reported")
    parser.add_argument("--only", nargs="*", choices=["startup", "spec", "floor", "catalogue"],
                        default=["startup", "spec", "floor", "catalogue"])
    parser.add_argument("--workers", type=int, default=2, help="xdist workers of the parallel runs (default 2)")
    parser.add_argument("--out", help="write the markdown report here as well")
    parser.add_argument("--json", help="write the raw figures here")
    options = parser.parse_args(argv)
    info = machine()
    print(f"benchmark on {info['cpu']} ({info['cores']} cores), load {info['load_before']}", file=sys.stderr)
    rows, slowest = [], {}
    parallel = ["-n", str(options.workers)]
    startup = {}
    if "startup" in options.only:
        startup["import torch"] = _time_command([sys.executable, "-c", "import torch"], options.repeat)
        startup["pytest --collect-only spec"] = _time_command([*PYTEST, "--collect-only", "spec"], options.repeat)
        for key, value in startup.items():
            print(f"  {key:38} {value:7.1f} s", file=sys.stderr, flush=True)
    for profile in ("dev", "ci"):
        for workers in ([], parallel):
            label = f"{profile}, {'-n ' + str(options.workers) if workers else 'serial'}"
            arguments = ["spec", f"--hypothesis-profile={profile}", *workers]
            if "spec" in options.only:
                row, records = measure(f"spec, {label}", arguments, options.repeat)
                rows.append(row)
                if profile == "dev" and not workers:
                    slowest = records
            if "floor" in options.only:
                row, _ = measure(f"floor (empty bodies), {label}", arguments, options.repeat,
                                 env={"EMBEDSPEC_EMPTY_BODIES": "1"})
                rows.append(row)
    if "catalogue" in options.only:
        for workers in ([], parallel):
            label = "-n " + str(options.workers) if workers else "serial"
            row, _ = measure(f"mutant catalogue, {label}", ["tests/test_power.py", *workers], options.repeat,
                             count="power")
            rows.append(row)
    report = render(info, startup, rows, slowest)
    print(report)
    if options.out:
        Path(options.out).write_text(report)
    if options.json:
        Path(options.json).write_text(json.dumps(dict(machine=info, startup=startup, rows=rows), indent=1))
    return 0


def render(info, startup, rows, slowest):
    lines = [f"Measured {info['date']} on {info['cpu']}, {info['cores']} cores (load average {info['load_before']} "
             f"at the start), Python {info['python']}, torch {info['torch']}, Hypothesis {info['hypothesis']}.", ""]
    if startup:
        lines += ["| start-up | seconds |", "| --- | ---: |"]
        lines += [f"| `{k}` | {v:.1f} |" for k, v in startup.items()]
        lines.append("")
    if rows:
        lines += ["| run | wall (s) | examples | examples/s | outcome |", "| --- | ---: | ---: | ---: | --- |"]
        for row in rows:
            outcome = ", ".join(f"{n} {k}" for k, n in row["outcomes"].items())
            lines.append(f"| {row['name']} | {row['wall']:.1f} | {row['examples']} | "
                         f"{row['examples_per_second']:.0f} | {outcome} |")
        lines.append("")
    if slowest:
        top = sorted(slowest.items(), key=lambda kv: -kv[1]["seconds"])[:10]
        lines += ["Slowest properties (dev, serial):", "", "| property | seconds | examples | ms/example |",
                  "| --- | ---: | ---: | ---: |"]
        for nodeid, record in top:
            per = 1000 * record["seconds"] / max(record["examples"], 1)
            lines.append(f"| `{nodeid.split('::')[-1]}` | {record['seconds']:.2f} | {record['examples']} | {per:.1f} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

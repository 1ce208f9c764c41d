"""Show that the ``ci`` profile's verdicts are reproducible: N runs in a row, serially and with -n.

    python scripts/determinism.py                       # 10 runs serially, 10 with -n 2, whole spec
    python scripts/determinism.py --impl bad_rare --modules test_token_embedding test_sinusoidal \\
        test_learned_positional                         # an adapter whose bugs only a few inputs show

Each run is ``python -m pytest --pyargs embedspec.spec... --hypothesis-profile=ci --impl=IMPL
--embedspec-report=...`` in one working directory, which keeps Hypothesis' example database
between runs as a CI cache would. The verdict of every test (passed, failed, blocked,
error, skipped, xfailed, xpassed) is read from the JSON report; the script prints, per mode,
how many tests there were, how many verdicts failed, and every test whose verdict was not
the same in all runs. It exits 0 when every mode gave identical verdicts in every run, and
the serial and parallel verdicts agree.

``--profile dev --fresh`` shows the contrast: the random profile, each run in a fresh
directory (no database), flips the verdicts of bugs that only a few inputs show.
``tests/adapters_bad`` is put on PYTHONPATH, so its adapters can be named by module.
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_once(args, directory, number, workers):
    report = Path(directory) / f"report-{'n' if workers else 's'}-{number}.json"
    modules = [f"embedspec.spec.{m}" for m in args.modules] if args.modules else ["embedspec.spec"]
    command = [sys.executable, "-m", "pytest", "-q", "--no-header", "-p", "no:cacheprovider", "-p", "no:randomly",
               "--pyargs", *modules, f"--impl={args.impl}", f"--hypothesis-profile={args.profile}",
               f"--embedspec-report={report}", "--tb=no", *args.pytest_args]
    if workers:
        command += ["-n", str(workers)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "tests" / "adapters_bad"), env.get("PYTHONPATH")]))
    started = time.monotonic()
    done = subprocess.run(command, cwd=directory, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if not report.exists():
        sys.exit(f"run {number} wrote no report (exit code {done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    data = json.loads(report.read_text())
    verdicts = {}
    for family in data["families"].values():
        for prop in family["properties"]:
            verdicts[prop["nodeid"]] = prop["outcome"]
    return verdicts, done.returncode, seconds


def mode(args, label, workers):
    runs = []
    with tempfile.TemporaryDirectory(prefix="embedspec-determinism-") as shared:
        for number in range(1, args.runs + 1):
            if args.fresh:
                with tempfile.TemporaryDirectory(prefix="embedspec-determinism-") as fresh:
                    runs.append(run_once(args, fresh, number, workers))
            else:
                runs.append(run_once(args, shared, number, workers))
            verdicts, code, seconds = runs[-1]
            counts = collections.Counter(verdicts.values())
            print(f"  {label} run {number:2d}: exit {code}, {seconds:5.1f} s, "
                  + ", ".join(f"{n} {o}" for o, n in sorted(counts.items())), flush=True)
    tests = sorted(set().union(*(v for v, _, _ in runs)))
    flipped = {t: [v.get(t, "absent") for v, _, _ in runs] for t in tests
               if len({v.get(t, "absent") for v, _, _ in runs}) > 1}
    codes = {code for _, code, _ in runs}
    return runs, tests, flipped, codes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2, help="the -n of the parallel mode (0: serial only)")
    parser.add_argument("--impl", default="embedspec.reference")
    parser.add_argument("--profile", default="ci")
    parser.add_argument("--fresh", action="store_true", help="each run in a fresh directory (no example database)")
    parser.add_argument("--modules", nargs="*", help="spec modules (test_token_embedding ...); default: all")
    parser.add_argument("pytest_args", nargs="*", help="after --: more pytest arguments")
    args = parser.parse_args(argv)
    modes = [("serial", 0)] + ([(f"-n {args.workers}", args.workers)] if args.workers else [])
    results = {}
    print(f"{args.runs} runs per mode of {', '.join(args.modules or ['the whole specification'])} against "
          f"{args.impl}, profile {args.profile}{' (fresh directory each run)' if args.fresh else ''}")
    for label, workers in modes:
        results[label] = mode(args, label, workers)
    identical = True
    print()
    for label, (runs, tests, flipped, codes) in results.items():
        failing = sum(1 for o in runs[0][0].values() if o in ("failed", "blocked", "error"))
        print(f"{label}: {len(tests)} tests, {failing} not passing, exit codes {sorted(codes)}: "
              + ("identical verdicts in every run" if not flipped else f"{len(flipped)} test(s) changed verdict"))
        for test, seen in sorted(flipped.items()):
            print(f"    {test}: {' '.join(seen)}")
        identical &= not flipped and len(codes) == 1
    if len(results) > 1:
        first = [runs[0][0] for runs, _, _, _ in results.values()]
        agree = all(v == first[0] for v in first[1:])
        print("serial and parallel verdicts " + ("agree" if agree else "DIFFER"))
        if not agree:
            for test in sorted(set(first[0]) | set(first[1])):
                if first[0].get(test) != first[1].get(test):
                    print(f"    {test}: {first[0].get(test)} serially, {first[1].get(test)} in parallel")
        identical &= agree
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())

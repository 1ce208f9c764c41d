"""``embedspec matrix``: the specification against every ready adapter, written up as CONFORMANCE.md.

    embedspec matrix                       # ci profile, seed 0, every adapter whose library imports
    embedspec matrix --only hf_transformers.llama x_transformers --profile dev
    embedspec matrix --from-reports DIR    # rebuild the document from the JSON reports of a run

Each adapter implementation runs in its own process, in a fresh working directory
(so no example database carries over), without its xfails file, so that every
failure keeps its counterexample; each failure is then matched against the
adapter's ``adapters/xfails/<name>.toml``: listed, it is a known divergence
(xfailed); not listed, an unexpected failure. A listed entry whose property passed
is stale. The document is generated, never edited by hand: it carries the date,
the versions, the command and its runtime. The exit code is 1 when any property
failed unexpectedly or any entry is stale, 0 otherwise.
"""

import argparse
import concurrent.futures
import datetime
import difflib
import importlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .clauses import LEVELS
from .contract import FAMILIES

FAILED = ("failed", "blocked", "error")
DEFAULT_OUTPUT = "CONFORMANCE.md"
KINDS = {
    "bug": "a bug in the library",
    "convention": "a convention the contract does not have",
    "limitation": "a documented limitation of the library",
    "strict": "the contract is stricter than the library's design",
}


def _adapters():
    from .adapters import IMPLEMENTATIONS

    return IMPLEMENTATIONS


def _findings():
    """{adapter name: {clause or node id: {"kind": ..., "consequence": ...}}} from adapters/findings.toml."""
    import tomllib

    from .adapters import XFAILS_DIRECTORY

    path = XFAILS_DIRECTORY.parent / "findings.toml"
    if not path.exists():
        return {}
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    found = {}
    for entry in data.get("finding", []):
        found.setdefault(entry["adapter"], {})[entry["id"]] = entry
    return found


def _xfails(adapter):
    from .xfails import parse

    return parse(adapter.xfails) if adapter.xfails.exists() else []


def _matches(entry, prop):
    if "::" not in entry.id:
        return entry.id == prop.get("id")
    file_part, _, rest = entry.id.partition("::")
    nodeid = prop.get("nodeid", "")
    if file_part and Path(file_part).name != Path(nodeid.split("::")[0]).name:
        return False
    test = prop.get("test", "")
    return rest == test if "[" in rest else rest == test.split("[")[0]


def _entry_for(entries, prop):
    found = [e for e in entries if _matches(e, prop)]
    return max(found, key=lambda e: "::" in e.id) if found else None


def _provided(adapter):
    from .loading import load_implementation

    implementation = load_implementation(adapter.impl)
    return [family for family in FAMILIES if implementation.provides(family)], implementation


def _library_version(adapter):
    try:
        return importlib.metadata.version(adapter.distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def run_one(adapter, profile, seed, reports, timeout):
    """Run the specification against one adapter; return (report path, log path, seconds, exit code)."""
    report = reports / f"{adapter.name}.json"
    log = reports / f"{adapter.name}.log"
    command = [sys.executable, "-m", "embedspec.cli", f"--impl={adapter.impl}", f"--hypothesis-profile={profile}",
               f"--hypothesis-seed={seed}", "-p", "no:randomly", "-p", "no:xdist", "-q", "-rN", "--tb=no",
               "-W", "ignore", f"--embedspec-report={report}"]
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="embedspec-matrix-") as work, open(log, "w") as output:
        output.write(" ".join(command) + "\n")
        output.flush()
        try:
            code = subprocess.run(command, cwd=work, stdout=output, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    return report, log, time.monotonic() - start, code


class Result:
    """One adapter's run, classified against its xfails file."""

    def __init__(self, adapter, data, entries, findings, provided, implementation, seconds):
        self.adapter = adapter
        self.data = data
        self.entries = entries
        self.findings = findings
        self.provided = provided
        self.conventions = implementation.conventions
        self.unsupported = sorted(implementation.unsupported)
        self.seconds = seconds
        self.cells = {}
        self.divergences = []  # (entry, [props])
        self.unexpected = []  # props
        self.stale = []  # entries
        self._classify()

    def _classify(self):
        by_entry = {}
        seen_entries = set()
        for family, block in (self.data.get("families") or {}).items():
            by_level = {level: dict(passed=0, failed=0, xfailed=0, total=0) for level in LEVELS}
            for prop in block.get("properties", []):
                outcome = prop.get("outcome")
                counts = by_level["should" if prop.get("level") == "should" else "must"]
                entry = _entry_for(self.entries, prop)
                if entry is not None:
                    seen_entries.add(entry)
                if outcome == "skipped":
                    continue
                counts["total"] += 1
                if outcome in FAILED:
                    if entry is not None:
                        counts["xfailed"] += 1
                        by_entry.setdefault(entry, []).append((family, prop))
                    else:
                        counts["failed"] += 1
                        self.unexpected.append((family, prop))
                else:
                    counts["passed"] += 1
                    if entry is not None and outcome == "passed":
                        by_entry.setdefault(entry, [])
            self.cells[family] = by_level
        self.divergences = [(entry, by_entry[entry]) for entry in self.entries if by_entry.get(entry)]
        self.stale = [entry for entry in self.entries if not by_entry.get(entry)]

    def cell(self, family):
        """The must results, then the should results apart: "passed 20 · should: xfailed 2/5"."""
        if family not in self.provided:
            return "—"
        by_level = self.cells.get(family)
        if not by_level or not any(counts["total"] for counts in by_level.values()):
            return "untested"
        must, should = (_results(by_level[level]) for level in LEVELS)
        return " · ".join(filter(None, (must, should and f"should: {should}")))


def _results(counts):
    if not counts["total"]:
        return ""
    if counts["failed"]:
        return f"**failed** {counts['failed']}/{counts['total']}" + (
            f", xfailed {counts['xfailed']}" if counts["xfailed"] else "")
    if counts["xfailed"]:
        return f"xfailed {counts['xfailed']}/{counts['total']}"
    return f"passed {counts['passed']}"


def _md(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def _code(text, limit=600):
    text = str(text).strip()
    if len(text) > limit:
        text = text[:limit] + " …"
    return text.replace("`", "'")


def _versions():
    import hypothesis
    import torch

    from . import __version__ as embedspec_version

    return {"python": platform.python_version(), "torch": torch.__version__, "hypothesis": hypothesis.__version__,
            "embedspec": embedspec_version}


def render(results, missing, profile, seed, command, seconds):
    versions = _versions()
    today = datetime.date.today().isoformat()
    lines = [
        "# Conformance of the ecosystem",
        "",
        "<!-- Generated by `embedspec matrix`; do not edit by hand: edit the adapters, their xfails files",
        "     (adapters/xfails/) or adapters/findings.toml, and run the command again. -->",
        "",
        f"Generated on {today} by `{command}` (Hypothesis profile `{profile}`, seed {seed}; "
        f"{seconds / 60:.1f} minutes on this machine) with "
        + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        "",
        "Each ready adapter in `adapters/` was run against the whole specification. A cell counts the",
        "properties of the family that ran (skipped ones aside), the `must` clauses first and the `should`",
        "clauses (the error discipline) after `should:`: `passed N` means every one passed;",
        "`xfailed k/N` means k failed and each is a known divergence listed in the adapter's xfails file",
        "and described below; `failed` would be an unexpected failure; `—` means the library does not",
        "provide the family. A family conforms when its `must` part has no failure and no divergence.",
        "",
    ]
    families = [f for f in FAMILIES if any(f in r.provided for r in results)]
    lines.append("| implementation | version | " + " | ".join(f"`{f}`" for f in families) + " |")
    lines.append("| --- | --- | " + " | ".join("---" for _ in families) + " |")
    for result in results:
        adapter = result.adapter
        version = _library_version(adapter) or "?"
        lines.append(f"| `{adapter.name}`: {_md(adapter.title)} | {adapter.distribution} {version} | "
                     + " | ".join(result.cell(f) for f in families) + " |")
    lines.append("")
    absent = [f for f in FAMILIES if f not in families]
    if absent:
        lines += [f"No adapted library provides {', '.join(f'`{f}`' for f in absent)}.", ""]
    if missing:
        lines += ["## Adapters that did not run", ""]
        for adapter, why in missing:
            lines.append(f"- `{adapter.name}` ({adapter.distribution}): {why}")
        lines.append("")
    problems = [(r, "unexpected failure", f, p) for r in results for f, p in r.unexpected]
    stale = [(r, e) for r in results for e in r.stale]
    if problems or stale:
        lines += ["## Open problems", ""]
        for result, _, family, prop in problems:
            failure = prop.get("failure") or {}
            lines.append(f"- `{result.adapter.name}`, {family}, `{prop.get('test')}`: unexpected failure: "
                         f"{_md(_code(failure.get('message', ''), 300))}")
        for result, entry in stale:
            lines.append(f"- `{result.adapter.name}`: xfails entry `{entry.id}` matched no failure (stale)")
        lines.append("")
    lines += ["## Divergences, adapter by adapter", ""]
    for result in results:
        adapter = result.adapter
        version = _library_version(adapter) or "?"
        lines += [f"### `{adapter.name}` ({adapter.distribution} {version})", "",
                  f"{adapter.title}. Run with `embedspec --impl {adapter.impl} --xfails adapters/xfails/{adapter.name}.toml`"
                  f" ({result.seconds:.0f} s here).", ""]
        declared = {k: v for k, v in result.conventions.items()
                    if any(k.startswith(prefix) for prefix in _convention_prefixes(result.provided))}
        if declared:
            lines += ["Conventions: " + ", ".join(f"`{k} = {v}`" for k, v in declared.items()) + ".", ""]
        if result.unsupported:
            lines += ["Declares unsupported (those clauses are skipped, not failed): "
                      + ", ".join(f"`{feature}`" for feature in result.unsupported) + ".", ""]
        if not result.divergences:
            lines += ["No divergence: every property of every family it provides passed.", ""]
            continue
        # entries with the same reason (one cause behind several properties) are written up once
        groups = {}
        for entry, props in result.divergences:
            groups.setdefault(entry.reason, []).append((entry, props))
        for reason, members in groups.items():
            entry, props = members[0]
            finding = result.findings.get(entry.id, {})
            kind = KINDS.get(finding.get("kind"), finding.get("kind", "divergence"))
            family, prop = props[0]
            failure = prop.get("failure") or {}
            names = []
            for member, member_props in members:
                where = ", ".join(sorted({f for f, _ in member_props}))
                names.append(f"`{member_props[0][1].get('id')}` on {where}" if "::" in member.id
                             else f"`{member.id}` ({where})")
            lines += [f"#### {', '.join(names)}: {kind}", ""]
            claims = [member_props[0][1].get("claim", "") for _, member_props in members]
            lines.append(f"- **The contract**: {_md(claims[0])}" + (
                f" (the first of the {len(members)} properties in the heading)"
                if len(members) > 1 else ""))
            lines.append(f"- **The library**: {_md(reason)}")
            counterexample = failure.get("counterexample")
            if isinstance(counterexample, list):
                counterexample = counterexample[0]
            first = f" (`{prop.get('id')}`)" if len(members) > 1 else ""
            if counterexample and str(counterexample).startswith("(fixtures only)"):
                lines.append(f"- **Counterexample**{first}: the property's fixed cases of the family (`{entry.id}`)")
            elif counterexample:
                lines.append(f"- **Minimal counterexample**{first} (Hypothesis): `{_code(counterexample, 300)}`")
            if failure.get("message"):
                lines.append(f"- **What failed**{first}: `{_code(failure['message'].splitlines()[0], 400)}`")
            if finding.get("consequence"):
                lines.append(f"- **Consequence for a user**: {_md(finding['consequence'])}")
            if entry.link:
                lines.append(f"- **Link**: {entry.link}")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# the convention keys that concern each family
_CONVENTION_KEYS = {
    "token_embedding": ("token_embedding.",),
    "sinusoidal_encoding": ("sinusoidal.layout", "sinusoidal.frequencies"),
    "sinusoidal_module": ("sinusoidal.",),
    "learned_positional": ("learned_positional.",),
    "transformer_embedding": ("token_embedding.", "learned_positional.", "sinusoidal."),
    "rope": ("rope.",),
    "alibi_slopes": ("alibi.",),
    "alibi_bias": ("alibi.",),
    "sincos_2d": ("sincos_2d.", "sinusoidal.layout", "sinusoidal.frequencies"),
    "hybrid_positional": ("hybrid.", "sinusoidal."),
    "tied_embedding": ("token_embedding.",),
}


def _convention_prefixes(families):
    return tuple(key for family in families for key in _CONVENTION_KEYS.get(family, ()))


def _duration(data):
    try:
        started, finished = (datetime.datetime.fromisoformat(data[k]) for k in ("started", "finished"))
    except (KeyError, TypeError, ValueError):
        return 0.0
    return (finished - started).total_seconds()


def _span(reports):
    stamps = []
    for data in reports:
        try:
            stamps += [datetime.datetime.fromisoformat(data[k]) for k in ("started", "finished")]
        except (KeyError, TypeError, ValueError):
            continue
    return (max(stamps) - min(stamps)).total_seconds() if stamps else 0.0


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="embedspec matrix", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="ci", help="Hypothesis profile (default: ci)")
    parser.add_argument("--seed", type=int, default=0, help="Hypothesis seed (default: 0)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these adapters (module or module.attribute)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="the document to write (default: CONFORMANCE.md)")
    parser.add_argument("--reports", default=None, metavar="DIR",
                        help="keep the JSON reports and logs here (default: a temporary directory)")
    parser.add_argument("--from-reports", default=None, metavar="DIR",
                        help="do not run anything: rebuild the document from the JSON reports in DIR")
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                        help="adapters run in parallel (default: half the CPUs)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per adapter (default: 3600)")
    return parser.parse_args(argv)


def _unknown_adapters(unknown):
    """The usage error for --only names that are no adapter: the nearest name for each, and every known one."""
    known = [adapter.name for adapter in _adapters()]
    lines = [f"embedspec matrix: unknown adapter(s) {', '.join(sorted(unknown))}"]
    for name in sorted(unknown):
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            lines.append(f"  {name}: did you mean {close[0]}?")
    lines.append(f"known adapters: {', '.join(known)}")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    adapters = [a for a in _adapters() if not args.only or a.name in args.only or a.module in args.only]
    if args.only:
        unknown = set(args.only) - {a.name for a in adapters} - {a.module for a in adapters}
        if unknown:
            print(_unknown_adapters(unknown), file=sys.stderr)
            return 4
    findings = _findings()
    available, missing = [], []
    for adapter in adapters:
        try:
            importlib.import_module(f"embedspec.adapters.{adapter.module}")
        except ImportError as exc:
            missing.append((adapter, f"not installed here ({exc})"))
            continue
        available.append(adapter)
    started = time.monotonic()
    runs = {}
    if args.from_reports:
        directory = Path(args.from_reports)
        for adapter in available:
            path = directory / f"{adapter.name}.json"
            if path.exists():
                runs[adapter] = (path, None, _duration(json.loads(path.read_text())), 0)
            else:
                missing.append((adapter, f"no report {path}"))
    else:
        directory = Path(args.reports or tempfile.mkdtemp(prefix="embedspec-matrix-reports-"))
        directory.mkdir(parents=True, exist_ok=True)
        print(f"embedspec matrix: {len(available)} adapter(s), profile {args.profile}, seed {args.seed}, "
              f"{args.jobs} at a time; reports and logs in {directory}", flush=True)
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = {pool.submit(run_one, adapter, args.profile, args.seed, directory, args.timeout): adapter
                       for adapter in available}
            for future in concurrent.futures.as_completed(futures):
                adapter = futures[future]
                report, log, seconds, code = future.result()
                runs[adapter] = (report, log, seconds, code)
                print(f"  {adapter.name}: exit {code} in {seconds:.0f} s", flush=True)
    results = []
    for adapter in available:
        if adapter not in runs:
            continue
        report, log, seconds, code = runs[adapter]
        if not Path(report).exists():
            missing.append((adapter, f"the run produced no report (exit {code}; log {log})"))
            continue
        data = json.loads(Path(report).read_text())
        provided, implementation = _provided(adapter)
        results.append(Result(adapter, data, _xfails(adapter), findings.get(adapter.name, {}), provided, implementation,
                              seconds))
    elapsed = time.monotonic() - started
    if args.from_reports:  # the run's own span: from the first report's start to the last one's end
        elapsed = _span([result.data for result in results]) or elapsed
    command = "embedspec matrix" + (f" --profile {args.profile}" if args.profile != "ci" else "") + (
        f" --only {' '.join(args.only)}" if args.only else "")
    text = render(results, missing, args.profile, args.seed, command, elapsed)
    Path(args.output).write_text(text, encoding="utf-8")
    unexpected = sum(len(r.unexpected) for r in results)
    stale = sum(len(r.stale) for r in results)
    print(f"embedspec matrix: wrote {args.output}: {len(results)} adapter(s) run, "
          f"{sum(len(r.divergences) for r in results)} known divergence(s), {unexpected} unexpected failure(s), "
          f"{stale} stale xfails entr{'y' if stale == 1 else 'ies'}, {len(missing)} not run; {elapsed / 60:.1f} min")
    return 1 if unexpected or stale else 0


if __name__ == "__main__":
    sys.exit(main())

"""AST mutation testing: mutate the reference, run the specification against each mutant.

    python scripts/mutate.py                     # every reference module; writes MUTATION.md
    python scripts/mutate.py --files rope.py     # some modules only (writes nothing unless --out)
    python scripts/mutate.py --list              # the mutants, without running them

Why a mutator of our own rather than mutmut: the unit under test is an
*implementation* that the specification loads by name (``--impl``), not a
package whose own test suite runs in place. Each mutant here is a copy of
``reference/`` as a separate package, ``embedspec_mutant_ref``, in a temporary
folder (its relative imports work there), with one node of one module changed;
the real ``reference/`` is never written. The operators are the ones that model
the bugs this domain has (sin/cos and min/max swaps, slice starts and steps,
dropped ``device=``/``dtype=``/``padding_idx=`` keywords, dropped ``raise``
statements, error messages that no longer name the value), and each mutant runs
only the spec files, and in the cross-cutting files only the items, of the
families the changed module can affect.

Each mutant runs in a child process (forked from a parent that has imported
torch, pytest and Hypothesis once, or spawned afresh with ``--spawn``), two at a
time by default, under a time limit, in the power profile (the dev profile's
examples, seed 0, no shrinking), stopping at its first failure (``-x``).

Outcomes: *killed* (a property failed; the first failing clause is recorded),
*killed (error)* (the mutant cannot even be loaded, or crashed the run),
*timeout* (counted as killed), *survived*. A survivor listed in
``scripts/equivalent_mutants.py`` with its one-line argument is *equivalent*
and leaves the score: score = killed / (mutants - equivalent).
"""

import argparse
import ast
import copy
import datetime
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "reference"
SPEC = ROOT / "spec"
PACKAGE = "embedspec_mutant_ref"
CLAUSE = re.compile(r"\[([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+)")

# ---------------------------------------------------------------------------
# The operators

BINARY = {
    ast.Add: [ast.Sub], ast.Sub: [ast.Add], ast.Mult: [ast.Div], ast.Div: [ast.Mult],
    ast.FloorDiv: [ast.Div], ast.Mod: [ast.FloorDiv], ast.Pow: [ast.Mult],
}
COMPARE = {
    ast.Lt: [ast.LtE, ast.GtE], ast.LtE: [ast.Lt, ast.Gt], ast.Gt: [ast.GtE, ast.LtE], ast.GtE: [ast.Gt, ast.Lt],
    ast.Eq: [ast.NotEq], ast.NotEq: [ast.Eq], ast.Is: [ast.IsNot], ast.IsNot: [ast.Is],
    ast.In: [ast.NotIn], ast.NotIn: [ast.In],
}
SWAPS = {}
for _a, _b in [("sin", "cos"), ("min", "max"), ("amin", "amax"), ("zeros", "ones"), ("zeros_like", "ones_like"),
               ("floor", "ceil"), ("float32", "float64"), ("int32", "int64"), ("exp", "log"), ("sum", "mean"),
               ("float16", "bfloat16")]:
    SWAPS[_a], SWAPS[_b] = _b, _a
# methods whose call can be dropped, leaving the receiver: value- or shape-preserving steps a bug forgets
DROPPABLE = {"to", "detach", "clone", "contiguous", "float", "double", "half", "long", "int", "type_as", "clamp",
             "clamp_", "abs", "neg", "flip", "t", "masked_fill", "expand", "unsqueeze", "squeeze", "transpose"}


def _short(text, limit=90):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(node):
    if isinstance(node, ast.Slice):
        return f"[{ast.unparse(node)}]"
    if isinstance(node, ast.keyword):
        return ast.unparse(node)
    if isinstance(node, ast.If):
        return f"if {ast.unparse(node.test)}:"
    return ast.unparse(node)


def _plus(node, k):
    return ast.BinOp(left=copy.deepcopy(node), op=ast.Add() if k > 0 else ast.Sub(), right=ast.Constant(abs(k)))


def _candidates(node, modules):
    """(operator, replacement node) pairs for one node."""
    out = []
    if isinstance(node, ast.Constant) and not isinstance(node.value, str):
        value = node.value
        if isinstance(value, bool):
            out.append(("constant", ast.Constant(not value)))
        elif isinstance(value, int):
            out += [("constant", ast.Constant(value + 1)), ("constant", ast.Constant(value - 1))]
        elif isinstance(value, float):
            out.append(("constant", ast.Constant(value + 1.0)))
            out.append(("constant", ast.Constant(value / 10 if value else -1.0)))
    elif isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        for op in BINARY[type(node.op)]:
            out.append(("arithmetic", ast.BinOp(left=node.left, op=op(), right=node.right)))
    elif isinstance(node, ast.AugAssign) and type(node.op) in BINARY:
        for op in BINARY[type(node.op)]:
            out.append(("arithmetic", ast.AugAssign(target=node.target, op=op(), value=node.value)))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
        out.append(("unary", node.operand))
    elif isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            for new in COMPARE.get(type(op), []):
                ops = list(node.ops)
                ops[i] = new()
                out.append(("comparison", ast.Compare(left=node.left, ops=ops, comparators=node.comparators)))
    elif isinstance(node, ast.BoolOp):
        out.append(("boolean", ast.BoolOp(op=ast.Or() if isinstance(node.op, ast.And) else ast.And(), values=node.values)))
    elif isinstance(node, (ast.If, ast.IfExp)):
        negated = ast.UnaryOp(op=ast.Not(), operand=node.test)
        replacement = copy.copy(node)
        replacement.test = negated
        out.append(("condition", replacement))
    elif isinstance(node, ast.Attribute) and node.attr in SWAPS:
        out.append(("swap", ast.Attribute(value=node.value, attr=SWAPS[node.attr], ctx=node.ctx)))
    elif isinstance(node, ast.keyword) and node.arg in ("min", "max"):  # clamp(min=...) <-> clamp(max=...)
        out.append(("swap", ast.keyword(arg=SWAPS[node.arg], value=node.value)))
    elif isinstance(node, ast.Slice):
        lower, upper, step = node.lower, node.upper, node.step
        if lower is None:
            out.append(("slice", ast.Slice(lower=ast.Constant(1), upper=upper, step=step)))
        elif not (isinstance(lower, ast.Constant) and lower.value == 0):  # 0: and None are the same
            out.append(("slice", ast.Slice(lower=None, upper=upper, step=step)))
            if not isinstance(lower, ast.Constant):
                out.append(("slice", ast.Slice(lower=_plus(lower, 1), upper=upper, step=step)))
        if upper is not None:
            out.append(("slice", ast.Slice(lower=lower, upper=None, step=step)))
            if not isinstance(upper, ast.Constant):
                out.append(("slice", ast.Slice(lower=lower, upper=_plus(upper, 1), step=step)))
                out.append(("slice", ast.Slice(lower=lower, upper=_plus(upper, -1), step=step)))
        if step is not None:
            out.append(("slice", ast.Slice(lower=lower, upper=upper, step=None)))
    elif isinstance(node, ast.Call):
        for i, kw in enumerate(node.keywords):
            if kw.arg is not None:
                out.append(("keyword", ast.Call(func=node.func, args=node.args,
                                                keywords=node.keywords[:i] + node.keywords[i + 1:])))
        func = node.func
        if (isinstance(func, ast.Attribute) and func.attr in DROPPABLE
                and not (isinstance(func.value, ast.Name) and func.value.id in modules)):
            out.append(("method", func.value))
    elif isinstance(node, ast.Raise):
        out.append(("statement", ast.Pass()))
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        out.append(("statement", ast.Pass()))
    return out


def _message_candidate(node):
    """An f-string error message that no longer names the offending value."""
    literal = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
    return [("message", ast.Constant(literal))] if any(isinstance(v, ast.FormattedValue) for v in node.values) else []


def _is_docstring(node, parent):
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str))


def _walk(tree):
    """Yield (parent, field, index, node, qualname) for every mutable position, in a fixed order."""
    modules = {alias.asname or alias.name.split(".")[0]
               for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
               for alias in n.names}

    def visit(node, qualname, in_raise):
        for name, value in ast.iter_fields(node):
            if name in ("annotation", "returns", "decorator_list", "type_comment"):
                continue
            items = value if isinstance(value, list) else [value]
            for index, child in enumerate(items):
                if not isinstance(child, ast.AST):
                    continue
                if isinstance(child, (ast.Import, ast.ImportFrom)) or _is_docstring(child, node):
                    continue
                if (isinstance(child, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__"
                                                         for t in child.targets)):
                    continue
                where = index if isinstance(value, list) else None
                inner = qualname
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    inner = f"{qualname}.{child.name}" if qualname else child.name
                if isinstance(child, ast.JoinedStr):
                    if in_raise:
                        yield node, name, where, child, qualname, _message_candidate(child)
                    continue  # nothing inside a message is mutated
                yield node, name, where, child, qualname, _candidates(child, modules)
                yield from visit(child, inner, in_raise or isinstance(child, ast.Raise))

    yield from visit(tree, "", False)


@dataclass
class Mutation:
    file: str
    number: int  # position among the file's mutations (used to re-apply it)
    line: int
    qualname: str
    operator: str
    original: str
    mutated: str
    occurrence: int = 1

    @property
    def id(self):
        tail = f" #{self.occurrence}" if self.occurrence > 1 else ""
        return f"{self.file}:{self.qualname or '<module>'}: {self.original} -> {self.mutated}{tail}"


def mutations_of(path):
    tree = ast.parse(path.read_text())
    found, seen = [], {}
    for parent, name, index, node, qualname, candidates in _walk(tree):
        for operator, replacement in candidates:
            original, mutated = _short(_describe(node)), _short(_describe(replacement))
            if original == mutated:
                continue
            key = (qualname, original, mutated)
            seen[key] = seen.get(key, 0) + 1
            found.append(Mutation(path.name, len(found), getattr(node, "lineno", 0), qualname, operator,
                                  original, mutated, seen[key]))
    return found


def apply(path, number):
    """The source of ``path`` with its mutation ``number`` applied."""
    tree = ast.parse(path.read_text())
    count = 0
    for parent, name, index, node, qualname, candidates in _walk(tree):
        for operator, replacement in candidates:
            if _short(_describe(node)) == _short(_describe(replacement)):
                continue
            if count == number:
                if index is None:
                    setattr(parent, name, replacement)
                else:
                    getattr(parent, name)[index] = replacement
                return ast.unparse(ast.fix_missing_locations(tree)) + "\n"
            count += 1
    raise IndexError(f"{path.name} has no mutation {number}")


# ---------------------------------------------------------------------------
# Which families, spec files and items a module can affect


def _relative_imports(path):
    tree = ast.parse(path.read_text())
    return {f"{n.module}.py" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 1 and n.module}


def family_map():
    """(family -> the reference module defining its factory, module -> families it can affect).

    A module affects the families whose module is it or imports it, transitively.
    """
    sys.path.insert(0, str(ROOT))
    from embedspec.contract import FAMILIES

    init = ast.parse((REFERENCE / "__init__.py").read_text())
    home = {}
    for node in init.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            for alias in node.names:
                if alias.name in FAMILIES:
                    home[alias.name] = f"{node.module}.py"
    imports = {p.name: _relative_imports(p) for p in REFERENCE.glob("*.py")}

    def closure(module, seen=None):
        seen = set() if seen is None else seen
        if module not in seen:
            seen.add(module)
            for dep in imports.get(module, ()):
                closure(dep, seen)
        return seen

    affected = {p.name: set() for p in REFERENCE.glob("*.py")}
    for family, module in home.items():
        for dep in closure(module):
            affected.setdefault(dep, set()).add(family)
    return home, affected


def spec_files_for(families, first=()):
    """The spec files of the families (a test names one as an argument), those of ``first`` leading,
    then the cross-cutting files (parametrised over a ``family``)."""
    leading, own, crossing = [], [], []
    for path in sorted(SPEC.glob("test_*.py")):
        tree = ast.parse(path.read_text())
        arguments = {a.arg for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")
                     for a in n.args.args}
        if arguments & set(first):
            leading.append(str(path))
        elif arguments & families:
            own.append(str(path))
        elif "family" in arguments:
            crossing.append(str(path))
    return leading + own + crossing


class Selector:
    """Keeps the items that exercise one of the affected families."""

    def __init__(self, families):
        self.families = set(families)

    def pytest_collection_modifyitems(self, config, items):
        keep, drop = [], []
        for item in items:
            params = getattr(getattr(item, "callspec", None), "params", {})
            family = params.get("family")
            family = getattr(family, "name", family)
            uses = set(getattr(item, "fixturenames", ())) & self.families or family in self.families
            (keep if uses else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep


# ---------------------------------------------------------------------------
# Running one mutant (in a child process)


def child_main(folder, families, spec_files, timeout, all_clauses):
    """Run the spec against the package in ``folder``; output goes to folder/log.txt; returns the exit code."""
    import pytest

    sys.path.insert(0, str(ROOT))
    import tests.inline  # noqa: F401  (registers the power profile)

    sys.path.insert(0, folder)
    os.chdir(folder)
    for name in ("PYTEST_ADDOPTS", "EMBEDSPEC_IMPL", "PYTEST_XDIST_WORKER"):
        os.environ.pop(name, None)
    log = os.open(os.path.join(folder, "log.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(log, 1)
    os.dup2(log, 2)
    args = [*spec_files, f"--impl={PACKAGE}", "--hypothesis-seed=0", "--hypothesis-profile=power",
            "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly", "-p", "no:unraisableexception",
            "-q", "--tb=line", "-rfE", "--assert=plain", "-o", "addopts=", "-W", "ignore",
            "--level=should"]  # a mutant that fails only a should clause is killed all the same
    if not all_clauses:
        args.append("-x")
    if timeout:
        args += [f"--timeout={timeout}"]
    return int(pytest.main(args, plugins=[Selector(families)]))


@dataclass
class Outcome:
    id: str
    file: str
    line: int
    operator: str
    status: str  # killed, error, timeout, survived, no-tests
    clauses: list = field(default_factory=list)
    seconds: float = 0.0
    detail: str = ""


def _read_outcome(mutation, folder, code, seconds, timed_out):
    text = ""
    try:
        text = (Path(folder) / "log.txt").read_text(errors="replace")
    except OSError:
        pass
    clauses = []
    for line in text.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            match = CLAUSE.search(line)
            clauses.append(match.group(1) if match else line.split()[1])
    if timed_out:
        status = "timeout"
    elif code == 0:
        status = "survived"
    elif code == 1 and clauses:
        status = "killed"
    elif code == 5:
        status = "no-tests"
    else:
        status = "error"
    detail = ""
    if status == "error":
        lines = [l for l in text.splitlines() if l.strip()]
        detail = _short(lines[-1] if lines else f"exit code {code}", 160)
    return Outcome(mutation.id, mutation.file, mutation.line, mutation.operator, status,
                   sorted(dict.fromkeys(clauses)), round(seconds, 2), detail)


class _Forked:
    def __init__(self, job):
        self.pid = os.fork()
        if self.pid == 0:  # the child
            code = 99
            try:
                os.setpgid(0, 0)
                code = child_main(*job)
            except BaseException:  # noqa: BLE001: anything at all is a crashed run
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)

    def poll(self):
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return None
        return os.waitstatus_to_exitcode(status)

    def kill(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)


class _Spawned:
    def __init__(self, job):
        folder, families, spec_files, timeout, all_clauses = job
        command = [sys.executable, str(Path(__file__).resolve()), "--child", folder, ",".join(sorted(families)),
                   str(timeout), "1" if all_clauses else "0", *spec_files]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def poll(self):
        return self.process.poll()

    def kill(self):
        self.process.kill()
        self.process.wait()


def run_all(mutations, *, jobs, timeout, spawn, all_clauses, progress=True):
    home, affected = family_map()
    work = Path(tempfile.mkdtemp(prefix="embedspec-mutants-"))
    base = work / "base" / PACKAGE
    shutil.copytree(REFERENCE, base, ignore=shutil.ignore_patterns("__pycache__"))
    if not spawn:
        import pytest  # noqa: F401  (imported once, inherited by every forked child)
        import torch  # noqa: F401

        sys.path.insert(0, str(ROOT))
        import tests.inline  # noqa: F401
    launcher = _Spawned if spawn else _Forked
    pending = list(enumerate(mutations))
    running, outcomes = {}, [None] * len(mutations)
    started_all = time.monotonic()
    try:
        while pending or running:
            while pending and len(running) < jobs:
                k, mutation = pending.pop(0)
                families = affected.get(mutation.file, set())
                folder = work / f"m{k}"
                shutil.copytree(base, folder / PACKAGE)
                (folder / PACKAGE / mutation.file).write_text(apply(REFERENCE / mutation.file, mutation.number))
                if not families:
                    outcomes[k] = Outcome(mutation.id, mutation.file, mutation.line, mutation.operator, "no-tests")
                    continue
                own = [f for f, module in home.items() if module == mutation.file]
                job = (str(folder), sorted(families), spec_files_for(families, own), max(timeout // 5, 10),
                       all_clauses)
                running[k] = (launcher(job), time.monotonic(), folder)
            time.sleep(0.02)
            for k, (handle, started, folder) in list(running.items()):
                code = handle.poll()
                elapsed = time.monotonic() - started
                timed_out = code is None and elapsed > timeout
                if timed_out:
                    handle.kill()
                if code is not None or timed_out:
                    del running[k]
                    outcomes[k] = _read_outcome(mutations[k], folder, code, elapsed, timed_out)
                    shutil.rmtree(folder, ignore_errors=True)
                    if progress:
                        done = sum(o is not None for o in outcomes)
                        o = outcomes[k]
                        print(f"[{done}/{len(mutations)} {time.monotonic() - started_all:6.0f}s] {o.status:8} "
                              f"{','.join(o.clauses[:2]):24} {o.id}", flush=True)
    finally:
        for handle, _, _ in running.values():
            handle.kill()
        shutil.rmtree(work, ignore_errors=True)
    return outcomes


# ---------------------------------------------------------------------------
# The report


def _equivalents():
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from equivalent_mutants import EQUIVALENT

    return EQUIVALENT


def summarise(outcomes, equivalent):
    killed = [o for o in outcomes if o.status in ("killed", "error", "timeout")]
    survived = [o for o in outcomes if o.status == "survived"]
    untested = [o for o in outcomes if o.status == "no-tests"]
    explained = [o for o in survived if o.id in equivalent]
    unexplained = [o for o in survived if o.id not in equivalent]
    scored = len(outcomes) - len(explained) - len(untested)
    return dict(total=len(outcomes), killed=len(killed), survived=len(survived), equivalent=len(explained),
                unexplained=len(unexplained), untested=len(untested),
                score=(len(killed) / scored) if scored else 1.0), killed, explained, unexplained, untested


def write_markdown(path, outcomes, equivalent, elapsed, command):
    summary, killed, explained, unexplained, untested = summarise(outcomes, equivalent)
    by_file = {}
    for o in outcomes:
        row = by_file.setdefault(o.file, dict(total=0, killed=0, equivalent=0, survived=0))
        row["total"] += 1
        if o.status in ("killed", "error", "timeout"):
            row["killed"] += 1
        elif o.status == "survived":
            row["equivalent" if o.id in equivalent else "survived"] += 1
    by_clause = {}
    for o in killed:
        for clause in o.clauses[:1] or [o.status]:
            by_clause[clause] = by_clause.get(clause, 0) + 1
    lines = [
        "# Mutation testing of the reference (generated)",
        "",
        f"Generated by `{command}` on {datetime.date.today().isoformat()} "
        f"({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}), in {elapsed:.0f} s. "
        "Do not edit: re-run the script. How it works: `scripts/mutate.py`; why the survivors are equivalent: "
        "`scripts/equivalent_mutants.py`.",
        "",
        f"**Mutation score: {summary['score']:.1%}** ({summary['killed']} killed of "
        f"{summary['total'] - summary['equivalent'] - summary['untested']} non-equivalent mutants; "
        f"{summary['equivalent']} equivalent, {summary['unexplained']} unexplained survivors"
        + (f", {summary['untested']} in modules no family uses" if summary["untested"] else "") + ").",
        "",
        "| module | mutants | killed | equivalent | survived |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, row in sorted(by_file.items()):
        lines.append(f"| `{name}` | {row['total']} | {row['killed']} | {row['equivalent']} | {row['survived']} |")
    statuses = {}
    for o in killed:
        statuses[o.status] = statuses.get(o.status, 0) + 1
    lines += ["", "Killed: " + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) +
              " (`error`: the mutant cannot be loaded or crashes the run; `timeout`: stopped after the limit).", ""]
    if unexplained:
        lines += ["## Survivors without an argument", "", "| mutant | line | operator |", "| --- | ---: | --- |"]
        lines += [f"| `{o.id}` | {o.line} | {o.operator} |" for o in unexplained]
        lines.append("")
    if explained:
        lines += ["## Equivalent mutants", "", "| mutant | why it is equivalent |", "| --- | --- |"]
        lines += [f"| `{o.id}` | {equivalent[o.id]} |" for o in explained]
        lines.append("")
    lines += ["## First failing clause of each killed mutant", "", "| clause | mutants |", "| --- | ---: |"]
    lines += [f"| {c} | {n} |" for c, n in sorted(by_clause.items(), key=lambda kv: (-kv[1], kv[0]))]
    lines.append("")
    stale = sorted(set(equivalent) - {o.id for o in outcomes})
    if stale and len(by_file) == len(list(REFERENCE.glob("*.py"))):
        lines += ["## Listed as equivalent but no longer generated", ""] + [f"- `{s}`" for s in stale] + [""]
    Path(path).write_text("\n".join(lines))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        folder, families, timeout, all_clauses, *spec_files = argv[1:]
        sys.exit(child_main(folder, families.split(","), spec_files, int(timeout), all_clauses == "1"))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", nargs="*", help="reference modules to mutate (default: all)")
    parser.add_argument("--match", help="only mutants whose id contains this text")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    parser.add_argument("--timeout", type=int, default=150, help="seconds per mutant (default 150; each test "
                        "gets a fifth of it)")
    parser.add_argument("--spawn", action="store_true", help="spawn each child afresh instead of forking")
    parser.add_argument("--all-clauses", action="store_true", help="run every selected item, not only to the first failure")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--out", help="markdown report (default MUTATION.md when every module is mutated)")
    parser.add_argument("--json", help="also write every outcome as JSON")
    options = parser.parse_args(argv)
    files = sorted(REFERENCE.glob("*.py"))
    if options.files:
        files = [REFERENCE / name for name in options.files]
    mutations = [m for path in files for m in mutations_of(path)]
    if options.match:
        mutations = [m for m in mutations if options.match in m.id]
    if options.list:
        for m in mutations:
            print(f"{m.operator:10} line {m.line:3}  {m.id}")
        print(f"{len(mutations)} mutants")
        return 0
    spawn = options.spawn or not hasattr(os, "fork")
    started = time.monotonic()
    outcomes = run_all(mutations, jobs=options.jobs, timeout=options.timeout, spawn=spawn,
                       all_clauses=options.all_clauses)
    elapsed = time.monotonic() - started
    equivalent = _equivalents()
    summary, _, explained, unexplained, _ = summarise(outcomes, equivalent)
    out = options.out or (None if options.files or options.match else str(ROOT / "MUTATION.md"))
    command = "python scripts/mutate.py " + " ".join(argv)
    if out:
        write_markdown(out, outcomes, equivalent, elapsed, command.strip())
    if options.json:
        Path(options.json).write_text(json.dumps([asdict(o) for o in outcomes], indent=1))
    print(json.dumps(summary))
    for o in unexplained:
        print(f"SURVIVED line {o.line}: {o.id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

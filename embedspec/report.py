"""Failure reports of the specification: the claim, the inputs, expected versus actual, how to reproduce.

Every failed property's report says, in this order:

1. the claim: the clause id, its family and the property's docstring;
2. the smallest failing inputs (Hypothesis' minimal example, fixtures left out);
3. expected versus actual: the property's own message, which names the first
   differing index and its two values, never a dump of the tensors (messages
   are clipped, and tensors print at most 64 elements while a property runs);
4. how to reproduce it: the command line that runs this one property again,
   the Hypothesis seed of the run (or that the profile is derandomized), the
   ``@reproduce_failure`` blob, and a standalone script that calls the
   property's body once with the failing inputs;

then a short traceback (``--tb=long`` for the long one, ``--tb=no`` for none).

Two more verdicts live here:

- a family factory that cannot be called with the contract's arguments (its
  signature is wrong: ``embedspec.loading.FactorySignatureError``) makes the
  property an ERROR, not a failure: nothing about the implementation's
  behaviour was tested. A factory that raises on valid arguments is a failure,
  reported with the exact call;
- "blocked by": when a basic clause fails (say the lookup itself), a failure of
  a clause that relies on it (``DEPENDS_ON``) is reported as blocked by it, so
  that one bug does not read as a cascade of unrelated ones. The test still runs
  and still fails; the report and the summary say "blocked".

What a report carries travels on the report object (``report.embedspec``, a
dict of plain values), which pytest-xdist serialises back to the controller:
the JUnit XML (``--junitxml``: each property a test case whose class name is its
family) and the JSON conformance report are built there from it.
"""

import ast
import fnmatch
import functools
import re
import traceback
import warnings

import pytest
from _pytest._code.code import ReprEntryNative, ReprExceptionInfo, ReprFileLocation, ReprTraceback

from .collectors import attach, detach
from .examples import ExampleTimeout, describe, is_spec_item
from .loading import FactorySignatureError
from .clauses import CLAUSE_ID, clause_of, level_of
from .reproduce import command_line, snippet
from .xfails import XFAIL_ENTRY

# clause id pattern -> the basic clauses it relies on (fnmatch patterns; an exact id wins over a
# pattern, a longer pattern over a shorter one). Used for reporting only. A clause of a family not
# listed here depends on nothing; add a family with one or two lines.
DEPENDS_ON = {
    "TOK-SHAPE-01": (),
    "TOK-LOOKUP-01": ("TOK-SHAPE-01",),
    "TOK-ERR-*": ("TOK-SHAPE-01",),
    "TOK-REFUSE-*": ("TOK-SHAPE-01",),
    "TOK-EDGE-*": (),
    "TOK-*": ("TOK-SHAPE-01", "TOK-LOOKUP-01"),
    "SIN-ODD-*": (),
    "SIN-REFUSE-*": (),
    "SIN-EDGE-*": (),
    "SIN-EMPTY-*": (),
    "SIN-*": ("SIN-VAL-01",),
    "SINMOD-ODD-*": (),
    "SINMOD-REFUSE-*": (),
    "SINMOD-LEN-*": (),
    "SINMOD-EDGE-*": (),
    "SINMOD-*": ("SINMOD-ADD-01",),
    "LPOS-LEN-*": (),
    "LPOS-POSERR-*": (),
    "LPOS-REFUSE-*": (),
    "LPOS-EDGE-*": (),
    "LPOS-*": ("LPOS-ADD-01",),
    "EMB-EDGE-*": (),
    "EMB-REFUSE-*": (),
    "EMB-ERR-*": (),
    "EMB-*": ("EMB-SUM-01",),
    "ALIBI-EDGE-*": (),
    "ALIBI-DIAG-*": ("ALIBI-VAL-01",),
    "ALIBI-REL-*": ("ALIBI-VAL-01",),
    "HYB-EDGE-*": (),
    "HYB-*": ("HYB-LEARNED-01",),
    "L2D-FACT-*": ("L2D-FACT-01",),
    "L2D-GRAD-01": ("L2D-FACT-01",),
    "L2D-GRAD-02": ("L2D-FULL-01",),
    "T5B-VAL-01": ("T5B-RANGE-01",),
    "T5B-RANGE-01": (),
    "T5B-EDGE-*": (),
    "T5B-*": ("T5B-RANGE-01", "T5B-VAL-01"),
    "RSHIFT-ERR-*": (),
    "RSHIFT-REFUSE-*": (),
    "RSHIFT-EDGE-*": (),
    "RSHIFT-Q1-*": (),
    "RSHIFT-*": ("RSHIFT-BAND-01",),
    "TIED-EDGE-*": (),
    "TIED-*": ("TIED-SAME-01",),
    "ROPE-ODD-*": (),
    "ROPE-REFUSE-*": (),
    "ROPE-DTYPE-*": (),
    "ROPE-INPLACE-*": (),
    "ROPE-PAIR-*": (),
    "ROPE-*": ("ROPE-VAL-01",),
    "SC2D-DIM-*": (),
    "SC2D-REFUSE-*": (),
    "SC2D-EDGE-*": (),
    "SC2D-*": ("SC2D-VAL-01",),
    "INTERP-ERR-*": (),
    "INTERP-REFUSE-*": (),
    "INTERP-EDGE-*": (),
    "INTERP-*": ("INTERP-VAL-01",),
}

# Hypothesis' note naming the failing inputs: "Falsifying example: f(...)" up to 6.16x,
# "Failing test case: f(...)" since; explicit examples say "Falsifying/Failing explicit example".
_FAILING_NOTES = ("Falsifying", "Failing test case", "Failing explicit example")
_EXPLICIT_NOTES = ("Falsifying explicit", "Failing explicit")
_HYPOTHESIS_NOTES = _FAILING_NOTES + (
    "Draw ", "You can reproduce", "\nYou can reproduce", "You can add @seed", "Explanation:",
    "The test ", "(note: ", "Trying example", "Failed to reproduce", "Unreliable", "\nThis test function",
)
_BLOB = re.compile(r"@reproduce_failure\(.*?\)")
_NODE_CLAUSE = re.compile(r"\[([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+)")
CRASH_CAUSES = "a crash in native code such as a segfault or an abort, or the --embedspec-timeout hard stop"
MAX_MESSAGE_CHARS = 1500
MAX_MESSAGE_LINES = 15
INDENT = "    "


def depends_on(clause):
    """The basic clauses ``clause`` relies on (never itself); () for an unknown id."""
    if not clause:
        return ()
    if clause in DEPENDS_ON:
        found = DEPENDS_ON[clause]
    else:
        patterns = [p for p in DEPENDS_ON if "*" in p and fnmatch.fnmatchcase(clause, p)]
        found = DEPENDS_ON[max(patterns, key=len)] if patterns else ()
    return tuple(b for b in found if b != clause)


def clause_of_report(report):
    info = getattr(report, "embedspec", None) or {}
    if info.get("clause"):
        return info["clause"]
    clause = dict(getattr(report, "user_properties", ()) or ()).get("clause")
    if clause:
        return clause
    match = _NODE_CLAUSE.search(report.nodeid)
    return match.group(1) if match else None


# --- what a report carries -------------------------------------------------------------

def claim_of(function):
    doc = " ".join((getattr(function, "__doc__", None) or "").split())
    match = CLAUSE_ID.match(doc)
    return doc[match.end():].strip() if match else doc


def item_info(item):
    """The plain facts about a spec item that every one of its reports carries."""
    function = getattr(item, "function", None)
    families = []
    for mark in item.iter_markers("embedspec_family"):
        if mark.args and mark.args[0] not in families:
            families.append(mark.args[0])
    module = item.module.__name__
    info = {
        "clause": clause_of(function),
        "level": level_of(function),
        "claim": claim_of(function),
        "families": families,
        "module": module if module.startswith("embedspec.") else "embedspec." + module,
        "test": item.nodeid.split("::", 1)[1] if "::" in item.nodeid else item.name,
    }
    entry = item.stash.get(XFAIL_ENTRY, None)
    if entry is not None:
        info["xfail"] = entry.as_dict()
    return info


def _leaves(exc):
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


def _chain(exc, depth=6):
    while exc is not None and depth:
        yield exc
        exc = exc.__cause__ or exc.__context__
        depth -= 1


def _clip(text, chars=MAX_MESSAGE_CHARS, lines=MAX_MESSAGE_LINES):
    kept = text.splitlines()
    cut = []
    if len(kept) > lines:
        cut.append(f"{len(kept) - lines} more lines")
        kept = kept[:lines]
    text = "\n".join(kept)
    if len(text) > chars:
        cut.append(f"{len(text) - chars} more characters")
        text = text[:chars]
    return text + (f" ... [{', '.join(cut)} cut; --tb=long shows the traceback in full]" if cut else "")


_TENSOR_KEYWORD = re.compile(r",\s*\w+=[^,()]*(?:\([^()]*\))?")
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*(?:e[-+]?\d+)?|\.\d+|nan|inf)(?![\w.])")


def without_tensor_dumps(text, keep=8):
    """``text`` with every printed tensor of more than ``keep`` numbers replaced by its count: an implementation's
    exception that prints a tensor (``tensor([[0.84, ...]])``) must not fill a failure report with numbers."""
    pieces, done = [], 0
    while (start := text.find("tensor(", done)) >= 0:
        depth, end = 0, start + len("tensor")
        for end in range(start + len("tensor"), len(text)):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            if depth == 0:
                break
        literal = text[start:end + 1]
        numbers = len(_NUMBER.findall(_TENSOR_KEYWORD.sub("", literal)))
        pieces += [text[done:start], f"tensor(<{numbers} numbers>)" if numbers > keep else literal]
        done = end + 1
    return "".join(pieces) + text[done:]


def _message(exc):
    """Expected versus actual: the exception's own text, its non-Hypothesis notes, its cause; no tensor dumps."""
    head = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    notes = [n for n in getattr(exc, "__notes__", ()) if not n.startswith(_HYPOTHESIS_NOTES)]
    cause = exc.__cause__
    parts = [head, *notes]
    if cause is not None:
        first = (str(cause).splitlines() or [""])[0]
        parts.append(f"(caused by {type(cause).__name__}: {first})")
    return _clip(without_tensor_dumps("\n".join(parts)))


def _inputs_from_note(note, skip):
    """``name=value, ...`` from Hypothesis' "Falsifying example: f(...)" note, fixtures left out."""
    call = note.partition(":")[2].strip()
    try:
        tree = ast.parse(call, mode="eval")
    except SyntaxError:
        return None
    if not isinstance(tree.body, ast.Call):
        return None
    parts = []
    for keyword in tree.body.keywords:
        if keyword.arg in skip:
            continue
        segment = " ".join((ast.get_source_segment(call, keyword.value) or "?").split())
        parts.append(f"{keyword.arg}={segment}")
    return ", ".join(parts) or "(fixtures only)"


def _inputs(exc, skip):
    """(how the inputs were found, the inputs as text) for one failure."""
    notes = list(getattr(exc, "__notes__", ()))
    falsifying = next((n for n in notes if n.startswith(_FAILING_NOTES)), None)
    draws = [n for n in notes if n.startswith("Draw ")]
    recorded = getattr(exc, "embedspec_example", None)
    if any(n.startswith("state = ") for n in notes):  # a state machine: its program is the input
        steps = [" ".join(n.split()) for n in notes if n.startswith(("state.", "Draw ")) and n != "state.teardown()"]
        return "Hypothesis' shortest failing sequence of calls", _clip("; ".join(steps), chars=800, lines=8)
    if falsifying is not None:
        how = "an explicit @example" if falsifying.startswith(_EXPLICIT_NOTES) else \
            "Hypothesis' smallest failing example"
        text = _inputs_from_note(falsifying, skip)
        if text is None:
            text = describe(recorded, skip) if recorded is not None else " ".join(falsifying.split(":", 1)[1].split())
    elif recorded is not None:
        how = "the example that was running" if isinstance(exc, ExampleTimeout) else "the failing call"
        text = describe(recorded, skip)
    else:
        return None, None
    if draws:
        text += "; " + "; ".join(" ".join(d.split()) for d in draws)
    return how, _clip(text, chars=800, lines=8)


def _kind(leaves):
    for leaf in leaves:
        for exc in _chain(leaf):
            if isinstance(exc, FactorySignatureError):
                return "error"
    if any(isinstance(leaf, ExampleTimeout) for leaf in leaves):
        return "timeout"
    return "failure"


def _seed_line(item):
    obj = item.obj
    if item.stash.get(XFAIL_ENTRY, None) is not None:
        return "Hypothesis: derandomized (an expected failure): every run generates the same examples"
    current = getattr(obj, "_hypothesis_internal_use_settings", None)
    if current is None:
        return None
    if item.config.getoption("hypothesis_seed", None) is not None:
        return None  # already in the command
    if current.derandomize:
        return "Hypothesis: derandomized profile: every run generates the same examples"
    seed = getattr(obj, "_hypothesis_internal_use_generated_seed", None)
    if seed is not None:
        return (f"Hypothesis seed of this run: {seed} (the command above replays the saved failure from the "
                f"example database; add --hypothesis-seed={seed} to generate the same examples afresh)")
    return None


def _tbfilter(item):
    return False if item.config.getoption("fulltrace", False) else getattr(item, "_traceback_filter", True)


class _HypothesisNotesHidden:
    """Hides the Hypothesis notes of an exception tree while its traceback is formatted."""

    def __init__(self, exc):
        self.saved = []
        for leaf in [exc, *_leaves(exc)]:
            notes = getattr(leaf, "__notes__", None)
            if isinstance(notes, list):
                self.saved.append((leaf, notes))

    def __enter__(self):
        for leaf, notes in self.saved:
            leaf.__notes__ = [n for n in notes if not n.startswith(_HYPOTHESIS_NOTES)]

    def __exit__(self, *exc_info):
        for leaf, notes in self.saved:
            leaf.__notes__ = notes


def _native_traceback(item, excinfo):
    """Python's own traceback from the property down (cheap: no source parsing)."""
    raw = excinfo.tb
    try:
        tbfilter = _tbfilter(item)
        entries = tbfilter(excinfo) if callable(tbfilter) else excinfo.traceback
        if len(entries):
            raw = entries[0]._rawentry
    except Exception:
        pass
    with _HypothesisNotesHidden(excinfo.value):
        formatted = traceback.TracebackException(excinfo.type, excinfo.value, raw, compact=True)
        # like pytest, leave out the frames that ask to be hidden (Hypothesis', the watch's)
        shown = [(frame, line) for frame, line in traceback.walk_tb(raw)
                 if not frame.f_locals.get("__tracebackhide__") and not frame.f_globals.get("__tracebackhide__")]
        if shown:
            formatted.stack = traceback.StackSummary.extract(shown)
        return "".join(formatted.format())


def _crash(item, excinfo):
    try:
        return excinfo._getreprcrash()
    except Exception:
        path, lineno, _ = item.location
        return ReprFileLocation(path, (lineno or 0) + 1, excinfo.exconly())


def repr_failure(item, excinfo):
    """What a spec item's failure looks like before the report rewrites it: pytest's long form only
    when asked for (``--tb=long``, without function arguments), else Python's native traceback.

    pytest's default form parses the source of every frame (Hypothesis' own included) and costs more
    than running the property; the report keeps only the traceback of it anyway.
    """
    if item.config.getoption("tbstyle", "auto") == "long":
        with _HypothesisNotesHidden(excinfo.value):
            return excinfo.getrepr(funcargs=False, abspath=False, style="long", tbfilter=_tbfilter(item),
                                   showlocals=item.config.getoption("showlocals", False), truncate_locals=True)
    text = _native_traceback(item, excinfo)
    return ReprExceptionInfo(reprtraceback=ReprTraceback([ReprEntryNative([text])], None, "native"),
                             reprcrash=_crash(item, excinfo))


def _traceback_text(item, longrepr):
    if item.config.getoption("tbstyle", "auto") == "no" or longrepr is None:
        return None
    text = without_tensor_dumps(str(longrepr).rstrip("\n"))
    return text if item.config.getoption("tbstyle", "auto") == "long" else _clip(text, chars=6000, lines=60)


def _block(title, body):
    lines = [title]
    lines += [INDENT + line if line else "" for line in body.splitlines()]
    return lines


def failure_details(item, excinfo, longrepr=None):
    """The facts of a failed call and the text of its report (``longrepr``: its traceback)."""
    info = item_info(item)
    leaves = _leaves(excinfo.value)
    skip = set(item.fixturenames)
    kind = _kind(leaves)
    families = ", ".join(info["families"])
    title = f"Claim ({info['clause'] or item.name}{', family ' + families if families else ''}):"
    lines = _block(title, info["claim"] or "(the property states no claim)")
    counterexamples, messages = [], []
    for number, leaf in enumerate(leaves, 1):
        how, inputs = _inputs(leaf, skip)
        message = _message(leaf)
        counterexamples.append(inputs)
        messages.append(message)
        prefix = f"Failure {number} of {len(leaves)}: " if len(leaves) > 1 else ""
        if inputs is not None:
            lines += _block(f"{prefix}Smallest failing inputs ({how}):", inputs)
        else:
            lines += _block(f"{prefix}Inputs:", "(fixtures only)")
        if kind == "error":
            lines += _block("Error (the factory's signature does not take the contract's arguments):", message)
        elif kind == "timeout":
            lines += _block("Timeout:", message)
        else:
            lines += _block("Expected versus actual:", message)
    command = command_line(item)
    blob = None
    for leaf in leaves:
        for note in getattr(leaf, "__notes__", ()):
            match = _BLOB.search(note)
            if match:
                blob = match.group(0)
                break
        if blob:
            break
    recorded = next((leaf for leaf in leaves if getattr(leaf, "embedspec_example", None) is not None), None)
    example = getattr(recorded, "embedspec_example", None)
    try:  # a factory's signature is fixed in the adapter: there is no call to reproduce
        script = None if kind == "error" else snippet(item, example, getattr(recorded, "embedspec_torch_seed", 0))
    except Exception as exc:  # a report must never break the run
        script = f"# (no snippet: {type(exc).__name__}: {exc})"
    explicit = all(getattr(leaf, "__notes__", None) and any(n.startswith(_EXPLICIT_NOTES) for n in leaf.__notes__)
                   for leaf in leaves)
    seed_line = None if explicit else _seed_line(item)
    reproduce = [command]
    if seed_line:
        reproduce.append(seed_line)
    if blob:
        reproduce.append(f"or decorate the property with {blob} (exact for this Hypothesis version)")
    if script:
        reproduce.append("or run this standalone script, which calls the property's body once with the failing inputs"
                         + (" (the first failure)" if len(leaves) > 1 else "") + ":")
        reproduce += [INDENT + line for line in script.splitlines()]
    lines += _block("Reproduce:", "\n".join(reproduce))
    trace = _traceback_text(item, longrepr)
    if trace:
        lines += _block("Traceback:", trace)
    failure = {
        "kind": kind,
        "message": "\n\n".join(messages),
        "counterexample": counterexamples[0] if len(counterexamples) == 1 else counterexamples,
        "command": command,
        "blob": blob,
        "snippet": script,
    }
    blockers = [b for leaf in leaves for b in getattr(leaf, "embedspec_blocked_by", ())]
    if blockers:  # not run because of another clause (a family whose example timed out)
        failure["blocked_by"] = blockers
    seed = getattr(item.obj, "_hypothesis_internal_use_generated_seed", None)
    if seed is not None:
        failure["seed"] = seed
    return failure, "\n".join(lines) + "\n"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    spec = is_spec_item(item)
    failing = spec and call.when == "call" and call.excinfo is not None
    if failing:
        item.repr_failure = functools.partial(repr_failure, item)
    try:
        report = yield
    finally:
        if failing:
            item.__dict__.pop("repr_failure", None)
    if not spec:
        return report
    try:
        report.embedspec = item_info(item)
        if not failing or not report.failed:
            return report
        failure, text = failure_details(item, call.excinfo, report.longrepr)
    except Exception as exc:  # a report must never break the run: keep pytest's own
        warnings.warn(pytest.PytestWarning(f"embedspec could not format the report of {item.nodeid}: {exc!r}"))
        return report
    report.embedspec["failure"] = failure
    crash = getattr(report.longrepr, "reprcrash", None) or _crash(item, call.excinfo)
    report.longrepr = ReprExceptionInfo(
        reprtraceback=ReprTraceback([ReprEntryNative([text])], None, "native"), reprcrash=crash)
    if failure["kind"] == "error":
        report.when = "setup"  # an ERROR: the property could not be run against this adapter
    return report


# --- on the controller (or the only process): outcomes, blocked, JUnit, summary --------------

_outcomes_key = pytest.StashKey()


def outcome_of(reports):
    """The verdict of one test from its phase reports: passed, failed, error, skipped, xfailed, xpassed,
    or incomplete (set up, but its call never reported: the run was interrupted in it)."""
    verdict = None
    for report in reports:
        xfail = hasattr(report, "wasxfail")
        if report.when == "call":
            if report.passed:
                verdict = "xpassed" if xfail else "passed"
            elif report.skipped:
                verdict = "xfailed" if xfail else "skipped"
            elif isinstance(report.longrepr, str) and report.longrepr.startswith("[XPASS(strict)]"):
                verdict = "xpassed"
            else:
                verdict = "failed"
        elif report.failed:
            if report.when == "setup":  # a setup error, or a property that could not be run (signature)
                return "error"
            if report.when == "teardown":
                verdict = "error" if verdict in (None, "passed") else verdict
            else:  # pytest-xdist's report of a crashed worker
                verdict = "failed"
        elif report.skipped:
            verdict = "xfailed" if xfail else "skipped"
    if verdict is None:
        return "incomplete" if all(r.when == "setup" for r in reports) else "passed"
    return verdict


class Outcomes:
    """Collects the reports of a run where they are logged (the xdist controller, or the only process)."""

    def __init__(self, config):
        self.config = config
        self.reports = {}  # nodeid -> [reports]
        self._blocked = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report):
        earlier = self.reports.get(report.nodeid)
        if getattr(report, "embedspec", None) is None and report.failed and earlier:
            self._crashed(report, earlier)
        self.reports.setdefault(report.nodeid, []).append(report)
        self._blocked = None
        info = getattr(report, "embedspec", None)
        if info and info.get("families"):
            self._junit_classname(report, info["families"][0])

    @staticmethod
    def _crashed(report, earlier):
        """pytest-xdist's report of a worker that died in this test: give it the test's facts."""
        info = next((r.embedspec for r in earlier if getattr(r, "embedspec", None)), None)
        if info is None:
            return
        message = (f"the worker process died while running this property ({CRASH_CAUSES}): "
                   + " ".join(str(report.longrepr).split())[:500])
        report.embedspec = {**info, "failure": {"kind": "crash", "message": message}}

    def _junit_classname(self, report, family):
        try:
            from _pytest.junitxml import xml_key
        except ImportError:
            return
        xml = self.config.stash.get(xml_key, None)
        if xml is None:
            return
        reporter = xml.node_reporter(report)
        reporter.attrs["classname"] = f"{xml.prefix}.{family}" if xml.prefix else family

    def verdicts(self):
        """nodeid -> (clause, outcome, reports)."""
        return {nodeid: (clause_of_report(reports[0]), outcome_of(reports), reports)
                for nodeid, reports in self.reports.items()}

    def blocked(self):
        """nodeid -> the failed basic clauses that block this failed test."""
        if self._blocked is None:
            verdicts = self.verdicts()
            down = {clause for clause, outcome, _ in verdicts.values()
                    if clause and outcome in ("failed", "error", "xfailed")}
            self._blocked = {}
            for nodeid, (clause, outcome, reports) in verdicts.items():
                if outcome == "failed":  # an error stays an error: the property could not be run at all
                    blockers = [b for b in depends_on(clause) if b in down]
                    blockers += [b for b in _declared_blockers(reports) if b not in blockers]
                    if blockers:
                        self._blocked[nodeid] = blockers
        return self._blocked

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session):
        """Mark blocked failures on their reports before the terminal (and any report) shows them."""
        for nodeid, blockers in self.blocked().items():
            note = f"blocked by {', '.join(blockers)}, which failed too: fix that first"
            for report in self.reports[nodeid]:
                if not report.failed:
                    continue
                report.embedspec_blocked_by = blockers
                crash = getattr(report.longrepr, "reprcrash", None)
                if crash is not None and not crash.message.startswith("blocked by"):
                    crash.message = f"{note}; {crash.message}"
                entries = getattr(getattr(report.longrepr, "reprtraceback", None), "reprentries", None)
                if entries and isinstance(entries[0], ReprEntryNative):
                    entries[0].lines = [f"BLOCKED: {note}.\n", *entries[0].lines]

    def pytest_terminal_summary(self, terminalreporter):
        blocked = self.blocked()
        verdicts = self.verdicts()
        xpassed = [(nodeid, reports) for nodeid, (_, outcome, reports) in verdicts.items()
                   if outcome == "xpassed"]
        if blocked:
            terminalreporter.write_sep("-", f"embedspec: {len(blocked)} failure(s) blocked by a failing basic clause")
            for nodeid, blockers in sorted(blocked.items()):
                terminalreporter.write_line(f"BLOCKED {nodeid} by {', '.join(blockers)}")
        if xpassed:
            terminalreporter.write_sep("-", f"embedspec: {len(xpassed)} expected failure(s) now pass: "
                                            "remove their entries from the xfails file")
            for nodeid, reports in sorted(xpassed):
                entry = next((r.embedspec["xfail"] for r in reports if getattr(r, "embedspec", {}).get("xfail")), {})
                terminalreporter.write_line(f"XPASS {nodeid}  (entry id = {entry.get('id', '?')!r})")
        from .xfails import entries_of

        entries = entries_of(self.config)
        if entries and verdicts:
            used = {r.embedspec["xfail"]["id"] for _, _, reports in verdicts.values() for r in reports
                    if getattr(r, "embedspec", {}).get("xfail")}
            from .xfails import stale

            unused = [e for e in entries if e.id not in used and e not in stale(entries)]
            if unused:
                terminalreporter.write_line(
                    f"embedspec: {len(unused)} xfails entr{'y' if len(unused) == 1 else 'ies'} matched no test of this "
                    f"run (not selected, not provided, or out of scope): {', '.join(e.describe() for e in unused)}")


def _declared_blockers(reports):
    """The clauses a failure says it was blocked by (``failure.blocked_by``: a family that timed out)."""
    for report in reports:
        failure = (getattr(report, "embedspec", None) or {}).get("failure") or {}
        if failure.get("blocked_by"):
            return failure["blocked_by"]
    return []


def outcomes(config):
    """The run's Outcomes, on the process that logs reports (None on an xdist worker)."""
    return config.stash.get(_outcomes_key, None)


def pytest_configure(config):
    if hasattr(config, "workerinput"):
        return
    attach(config, _outcomes_key, Outcomes(config), "embedspec-outcomes")


def pytest_unconfigure(config):
    detach(config, _outcomes_key)

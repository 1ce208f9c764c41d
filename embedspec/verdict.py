"""The verdict: a table per family at the very end of a run, and ``--embedspec-plots DIR``.

When the specification ran, the session ends (after pytest's own summary line)
with one row per provided family that had properties in the run, and one line naming
the families the implementation does not provide::

    family                 passed  failed  should  skipped  xfailed  verdict
    token_embedding             6       3       1        0        0  nonconformant
    sinusoidal_encoding        12       0       2        0        0  conforms; 2 should gaps
    learned_positional          8       0       0        0        1  1 known divergence
    alibi_bias                  9       0       0        0        0  conforms strictly
    not provided: rope, relative_shift

``failed`` counts the failed ``must`` properties (errors and failures blocked by another
clause too), ``should`` the failed ``should`` properties (the error discipline: exception
types, messages, checks before device work); ``xfailed`` counts the expected failures of
``--xfails``; an xpass counts as passed. The verdict is ``nonconformant`` when a ``must``
property failed unexpectedly (the run fails), ``N known divergences`` when every failure
is an expected one (the run passes; a known divergence is still not conformance),
``conforms; N should gaps`` when only ``should`` properties failed, ``conforms strictly``
when at least one passed and none failed, and ``untested`` when everything was skipped
for another reason (deselected cases, a missing accelerator). The path of the JSON report
(``--embedspec-report``) follows the table.

``--embedspec-plots DIR`` draws, for the families whose result is a table
(``sinusoidal_encoding``, ``sinusoidal_module``, ``learned_positional``,
``sincos_2d``, ``alibi_bias``, ``learned_2d``), heatmaps of the implementation's table at a
fixed size: for each family without an unexpected ``must`` failure (conforming, or with
known divergences only) the table itself (``<family>-table.png``, for sinusoids the classic
picture); and for each failed or expected-to-fail value clause (``must``, not ``*-REFUSE-*``
or ``*-EDGE-*``: a clause about the values of an ordinary call) the table, the spec's
float64 oracle of it (in the declared conventions) and their difference
(``<family>-<CLAUSE>-failure.png``), when the table at that size differs from the oracle;
otherwise a line says why there is no failure plot. It needs matplotlib
(``pip install 'embedspec[plots]'``).
"""

import re
import textwrap
from pathlib import Path

import pytest

from .collectors import attach, detach
from .contract import FAMILIES

TABLE_FAMILIES = ("sinusoidal_encoding", "sinusoidal_module", "learned_positional", "sincos_2d", "alibi_bias",
                  "learned_2d")
COLUMNS = ("passed", "failed", "should", "skipped", "xfailed")
INSTALL_PLOTS = "pip install 'embedspec[plots]'  (or: pip install matplotlib)"

_collector_key = pytest.StashKey()


def pytest_addoption(parser):
    group = parser.getgroup("embedspec")
    group.addoption(
        "--embedspec-plots",
        dest="embedspec_plots",
        default=None,
        metavar="DIR",
        help="write heatmaps of the table families to DIR: implementation, oracle and difference for each failure, "
        "the table itself for each conformant family (needs matplotlib: " + INSTALL_PLOTS + ")",
    )


def _matplotlib_missing():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return True
    return False


def pytest_configure(config):
    if hasattr(config, "workerinput"):
        return
    if config.getoption("embedspec_plots", None) and _matplotlib_missing():
        raise pytest.UsageError(f"embedspec: --embedspec-plots needs matplotlib, which is not installed: {INSTALL_PLOTS}")
    attach(config, _collector_key, Verdicts(config), "embedspec-verdict")


def _outcome(reports):
    from .report import outcome_of

    return outcome_of(reports)


def _plural(count, noun):
    return f"{count} {noun}{'s' if count != 1 else ''}"


class Row:
    def __init__(self, family, provided=True):
        self.family = family
        self.provided = provided
        self.counts = dict.fromkeys(COLUMNS, 0)
        self.failures = []  # (clause, message, level) of failed and xfailed properties

    @property
    def verdict(self):
        counts = self.counts
        if counts["failed"]:
            return "nonconformant"
        if not self.provided:
            return "not provided"
        gaps = f"; {_plural(counts['should'], 'should gap')}" if counts["should"] else ""
        if counts["xfailed"]:  # declared in --xfails: the run does not fail on them, and the verdict says what they are
            return _plural(counts["xfailed"], "known divergence") + gaps
        if counts["should"]:
            return f"conforms{gaps}"
        return "conforms strictly" if counts["passed"] else "untested"


def _message(reports):
    for report in reports:
        info = getattr(report, "embedspec", None) or {}
        failure = info.get("failure")
        if failure and failure.get("message"):
            return failure["message"].splitlines()[0]
        if report.failed and getattr(report, "longrepr", None) is not None:
            crash = getattr(report.longrepr, "reprcrash", None)
            if crash is not None:
                return crash.message.splitlines()[0]
        if hasattr(report, "wasxfail"):
            return str(report.wasxfail).splitlines()[0]
    return ""


class Verdicts:
    """Collects the reports of the spec's properties where they are logged, then prints the table."""

    def __init__(self, config):
        self.config = config
        self.reports = {}

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report):
        info = getattr(report, "embedspec", None)
        if info is None:
            return
        self.reports.setdefault(report.nodeid, []).append(report)

    def _provided(self, family):
        from .plugin import get_implementation

        try:
            return get_implementation(self.config).provides(family)
        except BaseException:
            return True

    def rows(self):
        rows = {family: Row(family, self._provided(family)) for family in FAMILIES}
        for reports in self.reports.values():
            info = next((r.embedspec for r in reports if getattr(r, "embedspec", None)), {})
            outcome = _outcome(reports)
            for family in info.get("families") or ():
                row = rows.setdefault(family, Row(family, self._provided(family)))
                if outcome in ("passed", "xpassed"):
                    row.counts["passed"] += 1
                elif outcome in ("failed", "error"):
                    row.counts["should" if info.get("level") == "should" else "failed"] += 1
                    row.failures.append((info.get("clause"), _message(reports), info.get("level")))
                elif outcome == "xfailed":
                    row.counts["xfailed"] += 1
                    row.failures.append((info.get("clause"), _message(reports), info.get("level")))
                else:
                    row.counts["skipped"] += 1
        return [row for row in rows.values() if sum(row.counts.values())]

    def table(self):
        """A row per provided family that had properties in the run; the families not provided, named below."""
        everything = self.rows()
        rows = [row for row in everything if row.provided]
        absent = [row.family for row in everything if not row.provided]
        if not rows:
            return [f"not provided: {', '.join(absent)}"] if absent else []
        width = max(len("family"), *(len(r.family) for r in rows))
        columns = COLUMNS
        lines = [f"{'family':<{width}}  " + "  ".join(f"{c:>7}" for c in columns) + "  verdict"]
        for row in rows:
            lines.append(f"{row.family:<{width}}  " + "  ".join(f"{row.counts[c]:>7}" for c in columns)
                         + f"  {row.verdict}")
        if absent:
            lines.append(f"not provided: {', '.join(absent)}")
        return lines

    def json_report_path(self):
        value = self.config.getoption("embedspec_report", None)
        if not value:
            return None
        path = Path(value)
        return path if path.is_absolute() else Path(self.config.invocation_params.dir) / path

    def print_table(self):
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        lines = self.table()
        if reporter is None or not lines:
            return
        from .plugin import get_implementation

        try:
            name = get_implementation(self.config).name
        except BaseException:
            name = "?"
        reporter.write_sep("=", f"embedspec verdict: {name}")
        for line in lines:
            reporter.write_line(line)
        path = self.json_report_path()
        if path is not None:
            reporter.write_line(f"JSON report: {path}")
        plots = getattr(self, "plots_written", None)
        if plots is not None:
            reporter.write_line(f"plots: {len(plots)} PNG file(s) in {self.config.getoption('embedspec_plots')}")

    def write_plots(self):
        directory = self.config.getoption("embedspec_plots", None)
        if not directory or not self.reports:
            return
        directory = Path(directory)
        if not directory.is_absolute():
            directory = Path(self.config.invocation_params.dir) / directory
        self.plots_written = write_plots(self.config, self.rows(), directory)


def pytest_unconfigure(config):
    collector = config.stash.get(_collector_key, None)
    if collector is None:
        return
    try:
        collector.write_plots()
    finally:
        collector.print_table()
        detach(config, _collector_key)


# --- plots ----------------------------------------------------------------------------------

def _tables(family, factory, conventions):
    """(implementation's table, oracle's table), both 2-D float64 CPU tensors, at a fixed size."""
    import torch

    from .spec import oracles, oracles_relative

    layout, schedule = conventions["sinusoidal.layout"], conventions["sinusoidal.frequencies"]
    F64 = torch.float64
    with torch.no_grad():
        if family == "sinusoidal_encoding":
            table = factory(128, 64)
            return table, oracles.sinusoidal_table(torch.arange(128), 64, 10000.0, layout, schedule)
        if family == "sinusoidal_module":
            module = factory(64, 128)
            table = module(torch.zeros(1, 128, 64))[0]
            return table, oracles.sinusoidal_table(torch.arange(128), 64, 10000.0, layout, schedule)
        if family == "learned_positional":
            module = factory(64, 32)
            table = module(torch.zeros(1, 64, 32))[0]
            scale = oracles.learned_scale(32, conventions["learned_positional.scale"])
            return table, module.weight.detach().to(F64)[:64] * scale
        if family == "learned_2d":
            module = factory(8, 8, 32)
            return module(torch.zeros(1, 64, 32))[0], module.weight.detach().to(F64)
        if family == "sincos_2d":
            return factory(16, 16, 32), oracles_relative.sincos_2d(16, 16, 32, 10000.0, conventions["sincos_2d.order"],
                                                                    layout, schedule, conventions["sincos_2d.grid"])
        if family == "alibi_bias":
            heads, length = 8, 24
            bias = factory(heads, length, length).detach().to(F64)
            expected = oracles_relative.alibi_bias(heads, length, length).to(F64)
            if conventions["alibi.mode"] == "causal":  # specified on the visible keys, up to a constant per row
                visible = torch.ones(length, length).tril().bool()
                diagonal = bias.diagonal(dim1=1, dim2=2).unsqueeze(-1)
                bias = torch.where(visible, bias - diagonal, 0.0)
                expected = torch.where(visible, expected, 0.0)
            return bias.reshape(heads * length, length), expected.reshape(heads * length, length)
    raise KeyError(family)


def value_clause(clause, level):
    """Whether a clause is about the values of an ordinary call, which a heatmap of the table can show: not the
    error discipline (``should``), not refusing bad input (``*-REFUSE-*``), not the degenerate sizes
    (``*-EDGE-*``)."""
    return bool(clause) and level != "should" and clause.split("-")[1] not in ("REFUSE", "EDGE")


def differs(actual, expected):
    """Whether the plotted table differs visibly from the oracle's: by more than 1e-4 of the table's size."""
    return float((actual - expected).abs().max()) > 1e-4 * (float(expected.abs().max()) + 1.0)


def _name(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def _figure(panels, title):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width = max(7.0, 5.0 * len(panels))
    figure = Figure(figsize=(width, 4.8), layout="constrained")
    FigureCanvasAgg(figure)
    for index, (label, values, cmap) in enumerate(panels, 1):
        axes = figure.add_subplot(1, len(panels), index)
        bound = max(float(values.abs().max()), 1e-12)
        image = axes.imshow(values.numpy(), aspect="auto", interpolation="nearest", cmap=cmap,
                            vmin=-bound, vmax=bound)
        axes.set_title(label, fontsize=10)
        axes.set_xlabel("feature (column)")
        axes.set_ylabel("position (row)")
        figure.colorbar(image, ax=axes, shrink=0.85)
    columns = int(width * 11)  # characters per line at this font size
    figure.suptitle("\n".join(textwrap.fill(line, columns) for line in title.splitlines()), fontsize=10)
    return figure


def write_plots(config, rows, directory):
    """Write the PNGs; return their paths. A table that cannot be built is noted, never fatal."""
    import torch

    from .plugin import get_implementation

    implementation = get_implementation(config)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    def note(text):
        if reporter is not None:
            reporter.write_line(f"embedspec: {text}")

    for row in rows:
        if row.family not in TABLE_FAMILIES or row.verdict in ("not provided", "untested"):
            continue
        try:
            actual, expected = _tables(row.family, implementation.factory(row.family), implementation.conventions)
            actual = actual.detach().to("cpu", torch.float64).reshape(expected.shape)
        except Exception as exc:  # the failing properties say why; the plot says it could not be drawn
            note(f"no plot of {row.family}: {type(exc).__name__}: {exc}")
            continue
        if not row.counts["failed"]:  # conforming, or with known divergences only: the table itself
            figure = _figure([(f"{row.family}", actual, "RdBu_r")], f"{implementation.name}: {row.family} ({row.verdict})")
            path = directory / f"{_name(row.family)}-table.png"
            figure.savefig(path, dpi=100)
            written.append(path)
        failed = sorted(str(clause) for clause, _, _ in row.failures)
        plotted = [(clause, message) for clause, message, level in row.failures if value_clause(clause, level)]
        if failed and not plotted:
            note(f"no failure plot of {row.family}: none of its failed clauses ({', '.join(failed)}) is "
                 f"about the values of its table")
            continue
        if plotted and not differs(actual, expected):
            note(f"no failure plot of {row.family}: its table at the plotted size agrees with the oracle (failed: "
                 f"{', '.join(clause for clause, _ in plotted)})")
            continue
        for clause, message in plotted:
            panels = [("implementation", actual, "RdBu_r"), ("oracle (float64, declared conventions)", expected, "RdBu_r"),
                      ("implementation - oracle", actual - expected, "PuOr_r")]
            title = f"{implementation.name}: {row.family}, {clause} failed\n{message[:160]}"
            path = directory / f"{_name(row.family)}-{_name(clause or 'property')}-failure.png"
            _figure(panels, title).savefig(path, dpi=100)
            written.append(path)
    return written

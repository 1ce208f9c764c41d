"""The documentation cannot drift from the specification.

The clause catalogue is generated (docs/hooks/catalogue.py); these tests generate it into a
temporary directory, without mkdocs, and read the specification's docstrings independently
of the generator (a plain regular expression over the source, not its ``ast`` walk), so that a
clause the generator misses fails here. The strict site build itself runs in .ci/run.
"""

import html
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCSTRING = re.compile(r'"""([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+) \((must|should)\): (.*?)"""', re.S)


def _generator():
    spec = importlib.util.spec_from_file_location("docs_catalogue", ROOT / "docs" / "hooks" / "catalogue.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    generator = _generator()
    directory = tmp_path_factory.mktemp("docs")
    generator.write(directory)
    return generator, directory


def _spec_clauses():
    """{clause id: (level, claim, module)} straight from the docstrings of spec/test_*.py."""
    found = {}
    for path in sorted((ROOT / "spec").glob("test_*.py")):
        for clause, level, claim in DOCSTRING.findall(path.read_text()):
            assert clause not in found, f"{clause} is stated twice ({found[clause][2]} and {path.name})"
            found[clause] = (level, " ".join(claim.split()), path.name)
    return found


def test_every_clause_is_in_the_catalogue_with_its_level_and_claim(catalogue):
    generator, directory = catalogue
    index = (directory / "clauses" / "index.md").read_text()
    pages = {path.name: path.read_text() for path in (directory / "clauses").glob("*.md")}
    clauses = _spec_clauses()
    assert len(clauses) > 100
    for clause, (level, claim, module) in clauses.items():
        link = re.search(rf"\| \[{clause}\]\(([\w-]+\.md)#{clause}\) \| {level} \|", index)
        assert link, f"{clause} ({module}) is missing from the catalogue's index, or not at level {level}"
        page = pages[link.group(1)]
        block = page[page.index(f"### {clause} {{ #{clause} }}"):]
        block = block[:block.find("\n### ", 1)]
        assert f"**{level}**" in block, f"{clause}: its level {level} is not on {link.group(1)}"
        assert _words(claim) == _words(html.unescape(block.split("\n\n")[2])), (
            f"{clause}: its claim is not on {link.group(1)} as the docstring states it")
        assert "- Tolerance: " in block, f"{clause}: no tolerance line on {link.group(1)}"


def _words(text):
    """The words of a text, whatever its Markdown escapes and capitals."""
    return re.sub(r"[^a-z0-9 ]", " ", text.lower()).split()


def test_the_catalogue_lists_nothing_the_specification_does_not_state(catalogue):
    _, directory = catalogue
    index = (directory / "clauses" / "index.md").read_text()
    listed = set(re.findall(r"^\| \[([A-Z][A-Z0-9-]+)\]\(", index, re.M))
    assert listed == set(_spec_clauses())


def test_every_spec_module_has_a_family_page_with_its_sources(catalogue):
    generator, _ = catalogue
    listed = {module for page in generator.PAGES for module in page.modules}
    unlisted = sorted(path.name for path in (ROOT / "spec").glob("test_*.py") if path.name not in listed)
    assert not unlisted, (f"{', '.join(unlisted)}: add a Page to PAGES in docs/hooks/catalogue.py, with the "
                          "published sources of the family and the libraries where it lives")
    assert all(page.sources and page.libraries for page in generator.PAGES)


def test_a_clause_shows_the_tolerances_its_code_uses(catalogue):
    generator, _ = catalogue
    by_id = {clause.id: clause for clause in generator.clauses()}
    assert "rotation_atol" in by_id["ROPE-VAL-01"].tolerances  # through the module's helper _bound
    assert by_id["DTYPE-VAL-01"].family_tolerance  # the registry's per-family tolerance
    assert by_id["TEN-BCAST-01"].exact  # assert_equal: bit for bit


def test_what_a_clause_needs_is_a_feature_of_the_contract(catalogue):
    from embedspec.contract import FEATURES

    generator, _ = catalogue
    needs = {feature: clause.id for clause in generator.clauses() for feature in clause.needs}
    assert "token_embedding.padding_idx" in needs
    assert set(needs) <= set(FEATURES), {feature: needs[feature] for feature in set(needs) - set(FEATURES)}


def test_the_adapters_page_cites_every_xfails_entry_with_its_level(catalogue):
    generator, _ = catalogue
    section = generator.adapters_section(generator.clauses())
    for path in (ROOT / "adapters" / "xfails").glob("*.toml"):
        for entry_id in re.findall(r'^id = "([^"]+)"', path.read_text(), re.M):
            assert f"[{entry_id}](" in section or f"`{entry_id}`" in section, f"{path.name}: {entry_id}"
    assert "| ? |" not in section, "an xfails entry names no clause of the specification"


def test_the_readme_shows_the_test_command_that_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    readme = (ROOT / "README.md").read_text()
    fenced = re.findall(r"```(?:bash|sh|console)?\n(.*?)```", readme, re.S)
    assert any(ci in block.splitlines() for block in fenced), f"README.md shows no fenced `{ci}`"


def test_every_convention_of_the_contract_is_documented():
    from embedspec.contract import CONVENTIONS

    page = (ROOT / "docs" / "guide" / "conventions.md").read_text()
    rows = {row.split("|")[1].strip().strip("`"): row for row in page.splitlines() if row.startswith("| `")}
    for key, values in CONVENTIONS.items():
        assert key in rows, f"docs/guide/conventions.md has no row for the convention {key}"
        missing = [value for value in values if f"`{value}`" not in rows[key]]
        assert not missing, f"docs/guide/conventions.md: the row of {key} does not explain {', '.join(missing)}"


def test_the_readme_shows_the_ci_job_of_the_guide():
    job = re.search(r"```yaml\n.*?```", (ROOT / "docs" / "guide" / "ci.md").read_text(), re.S).group(0)
    readme = (ROOT / "README.md").read_text()
    assert job in readme, "README.md's GitHub Actions job differs from docs/guide/ci.md's: keep them one job"
    assert len(readme.splitlines()) <= 300, "README.md is the short entry point: the manual lives in docs/"


def test_the_readme_links_to_files_that_exist():
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", (ROOT / "README.md").read_text())
    assert links
    assert not [link for link in links if not (ROOT / link).exists()]

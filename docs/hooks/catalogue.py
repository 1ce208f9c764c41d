"""The clause catalogue and the adapters' findings, generated from the repository at build time.

Nothing here is written by hand that the specification already says: every clause id, level
and claim is read from the properties' docstrings (``CLAUSE-ID (must|should): claim``), the
families from the properties' arguments, the tolerances from the code that computes them and
from ``spec/tolerances.py``, the adapters from ``adapters/__init__.py`` and their divergences
from ``adapters/xfails/*.toml`` and ``adapters/findings.toml``. So the site cannot drift from
the specification: a new clause appears on its family's page and in the index at the next build.

The sources are read with ``ast`` and ``tomllib``, never imported: a build imports neither
torch nor Hypothesis, and takes a second or two.

``pages()`` returns every generated page as {path under docs/: markdown}; ``write(directory)``
writes them (tests/test_docs.py does, into a temporary directory). The mkdocs hooks at the end
add the pages to the site, put the family pages into the navigation, and fill the marker in
docs/adapters.md.
"""

import ast
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from embedspec.clauses import CLAUSE_ID  # the docstring grammar the plugin reads too (imports only re)
from embedspec.contract import FAMILIES, FEATURES  # imports nothing

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec"
ADAPTERS = ROOT / "adapters"
CATALOGUE = "clauses"  # the folder of the generated catalogue, under docs/
GENERATED_COPIES = {"conformance.md": "CONFORMANCE.md", "dev/mutation-results.md": "MUTATION.md"}
CROSS_CUTTING = "every family of the registry (spec/families.py)"


# --- the family pages: what the specification cannot say about itself --------------------------

@dataclass(frozen=True)
class Page:
    slug: str
    title: str
    modules: tuple  # the spec modules whose clauses the page lists
    summary: str
    sources: tuple  # published sources, by their published names
    libraries: tuple  # where the family lives

    @property
    def path(self):
        return f"{CATALOGUE}/{self.slug}.md"


PAGES = (
    Page("token-embedding", "Token embedding", ("test_token_embedding.py",),
         "A learnable lookup table: integer ids of any shape become rows of the `(num_embeddings, embedding_dim)` "
         "weight, optionally scaled by sqrt(d), with an optional padding row that stays zero and untrained.",
         ("Vaswani et al. 2017, *Attention Is All You Need*, section 3.4 (embeddings, scaled by sqrt(d_model))",
          "PyTorch, `torch.nn.Embedding` (the lookup, `padding_idx`)"),
         ("`torch.nn.Embedding`", "Hugging Face transformers (every model's `embed_tokens` / `wte`)",
          "torchtitan and megatron-core (token embeddings of their models)")),
    Page("sinusoidal", "Sinusoidal positional encoding", ("test_sinusoidal.py",),
         "The fixed table PE(p, 2i) = sin(p w_i), PE(p, 2i+1) = cos(p w_i), w_i = base^(-2i/d), as a table "
         "(`SIN-*`) and as a module that adds it to its input (`SINMOD-*`). The layout of sin and cos and the "
         "frequency schedule are conventions.",
         ("Vaswani et al. 2017, *Attention Is All You Need*, section 3.5",
          "Tensor2Tensor and fairseq (the `split` layout, and the `endpoint` frequencies w_i = base^(-i/(d/2-1)))"),
         ("Hugging Face transformers (XLM/DistilBERT, Marian, M2M100)", "x-transformers", "positional-encodings",
          "diffusers (timestep and 1-D sin-cos embeddings)")),
    Page("learned-positional", "Learned positional embedding", ("test_learned_positional.py",),
         "A learned `(max_len, dim)` table added at positions `0..S-1` or at explicit positions; it cannot "
         "extrapolate, so a sequence longer than `max_len` must be refused.",
         ("Gehring et al. 2017, *Convolutional Sequence to Sequence Learning* (learned position embeddings)",
          "Devlin et al. 2019, BERT; Radford et al. 2019, GPT-2"),
         ("Hugging Face transformers (BERT, BART, OPT, GPT-2)", "x-transformers (`AbsolutePositionalEmbedding`)",
          "`torch.nn.Embedding` looked up at `arange(S)`")),
    Page("transformer-embedding", "Transformer embedding (token + position, then dropout)",
         ("test_transformer_embedding.py",),
         "The input layer of a transformer: token embedding plus positional encoding, then one dropout on the sum.",
         ("Vaswani et al. 2017, *Attention Is All You Need*, sections 3.4, 3.5 and 5.4 (dropout on the sums of "
          "the embeddings and the positional encodings)",),
         ("GPT-2 in Hugging Face transformers (inline in `GPT2Model.forward`)", "megatron-core (`LanguageModelEmbedding`)")),
    Page("rope", "Rotary position embedding (RoPE)", ("test_rope.py", "test_rope_scaling.py"),
         "Queries and keys rotated pairwise by angles proportional to their position, so that a score depends on "
         "the offset m - n alone; two pairings of the features (`half`, `interleaved`), an optional partial "
         "`rotary_dim`, and the scaling types of long-context models (see [RoPE scaling](../rope-scaling.md)).",
         ("Su et al. 2021, *RoFormer: Enhanced Transformer with Rotary Position Embedding*",
          "Black et al. 2022, GPT-NeoX-20B (the `half` pairing); Wang and Komatsuzaki 2021, GPT-J (`interleaved`)",
          "Touvron et al. 2023, LLaMA",
          "Chen et al. 2023, *Extending Context Window of Large Language Models via Positional Interpolation*",
          "Peng et al. 2023, *YaRN: Efficient Context Window Extension of Large Language Models* (with NTK-aware "
          "and dynamic NTK scaling)",
          "Llama Team 2024, *The Llama 3 Herd of Models* (Llama 3.1's frequency bands)",
          "Ding et al. 2024, *LongRoPE: Extending LLM Context Window Beyond 2 Million Tokens*"),
         ("Hugging Face transformers (`LlamaRotaryEmbedding`, GPT-J, `rope_scaling`)", "torchtune",
          "x-transformers", "rotary-embedding-torch", "timm", "diffusers", "torchtitan", "megatron-core")),
    Page("alibi", "ALiBi (attention with linear biases)", ("test_alibi.py",),
         "No positional embedding at all: each head adds -m_h |i - j| to its attention scores, with head slopes "
         "forming a geometric sequence.",
         ("Press, Smith and Lewis 2022, *Train Short, Test Long: Attention with Linear Biases Enables Input Length "
          "Extrapolation* (ICLR), and its reference code for head counts that are not powers of two",),
         ("BLOOM and MPT in Hugging Face transformers", "x-transformers (`AlibiPositionalBias`)")),
    Page("relative-bucket", "T5 relative position buckets", ("test_relative_bucket.py",),
         "Relative positions mapped to a few buckets: exact for small distances, logarithmic up to `max_distance`, "
         "saturated beyond; bidirectional (encoder) or unidirectional (decoder).",
         ("Raffel et al. 2020, *Exploring the Limits of Transfer Learning with a Unified Text-to-Text Transformer* "
          "(T5, JMLR), and Mesh TensorFlow's `_relative_position_bucket`",
          "Shaw, Uszkoreit and Vaswani 2018, *Self-Attention with Relative Position Representations*"),
         ("Hugging Face transformers (`T5Attention`)", "torchtune (T5 encoder)",
          "x-transformers (`RelativePositionBias`)", "megatron-core")),
    Page("sincos-2d", "2-D sin-cos positional encoding", ("test_sincos_2d.py",),
         "A fixed encoding of an image's patch grid: the 1-D sinusoidal encoding of the row beside that of the "
         "column, in row-major order of the patches.",
         ("Dosovitskiy et al. 2021, *An Image Is Worth 16x16 Words* (ViT)",
          "He et al. 2022, *Masked Autoencoders Are Scalable Vision Learners* (MAE, `get_2d_sincos_pos_embed`)",
          "Chen, Xie and He 2021, *An Empirical Study of Training Self-Supervised Vision Transformers* (MoCo v3)"),
         ("Hugging Face transformers (ViT-MAE)", "timm", "positional-encodings", "diffusers")),
    Page("interpolate", "Resampling a learned positional table", ("test_interpolate.py",),
         "A learned `(L, dim)` table resampled to a new length, as when a model is fine-tuned on longer sequences "
         "or larger images: linear interpolation with the end points kept (`align_corners=True`).",
         ("Dosovitskiy et al. 2021, ViT, section 3.2 (interpolating the pre-trained position embeddings for "
          "fine-tuning at a higher resolution)",
          "Touvron et al. 2021, *Training Data-Efficient Image Transformers* (DeiT)"),
         ("timm (`resample_abs_pos_embed`)", "`torch.nn.functional.interpolate`")),
    Page("relative-shift", "Transformer-XL relative shift", ("test_relative_shift.py",),
         "The re-indexing that moves the scores computed against relative distances k_len-1 ... 0 to their keys, "
         "with the queries as the last q_len positions after the memory.",
         ("Dai et al. 2019, *Transformer-XL: Attentive Language Models Beyond a Fixed-Length Context* (ACL), "
          "appendix B",
          "Yang et al. 2019, *XLNet: Generalized Autoregressive Pretraining for Language Understanding*"),
         ("the original Transformer-XL code (`_rel_shift`)", "Hugging Face transformers (XLNet's `rel_shift_bnij`)")),
    Page("hybrid", "Hybrid learned and sinusoidal positions", ("test_hybrid.py",),
         "Learned rows up to `max_len` and the sinusoidal table past it; the `hybrid.switch` convention says "
         "whether a long sequence switches every position or only those past `max_len`.",
         ("Vaswani et al. 2017 (section 3.5: the sinusoidal form may extrapolate to longer sequences) combined "
          "with learned positions (Gehring et al. 2017)",),
         ("no library known to us ships this layer: it is a construction from the two sources",)),
    Page("learned-2d", "Learned 2-D positional embedding", ("test_learned_2d.py",),
         "A learned encoding of a patch grid: one row per patch (full), or a row table plus a column table "
         "(factorized).",
         ("Dosovitskiy et al. 2021, ViT (learned position embeddings; appendix D.4 compares 2-D factorized ones)",
          "Dehghani et al. 2023, *Patch n' Pack: NaViT* (factorized `pos_embed_height` + `pos_embed_width`)"),
         ("timm and torchvision ViT (`pos_embed`, `pos_embedding`)",)),
    Page("tied-embedding", "Weight tying", ("test_tied_embedding.py",),
         "The output projection shares the input embedding's one parameter: `m.project.weight is m.embed.weight`, "
         "through casts, moves, copies and a `state_dict` round trip, with both gradients accumulating into it.",
         ("Press and Wolf 2017, *Using the Output Embedding to Improve Language Models* (EACL)",
          "Inan, Khosravi and Socher 2017, *Tying Word Vectors and Word Classifiers*",
          "Vaswani et al. 2017, section 3.4"),
         ("Hugging Face transformers (`tie_word_embeddings`, `tie_weights()`)", "nanoGPT", "fairseq",
          "x-transformers (`tie_embedding=True`)", "torchtitan", "megatron-core")),
    Page("cross-cutting", "Across every family",
         ("test_devices.py", "test_dtypes.py", "test_autocast.py", "test_autograd.py", "test_purity.py",
          "test_stateful.py", "test_compile.py"),
         "Claims that hold for every family, written once and run for each family of the registry "
         "(`spec/families.py`): devices, dtypes, autocast, gradients, purity, call sequences, compilation. The "
         "family and the "
         "device join the clause id in the test id (`DEV-MOVE-01-rope-cpu`); a family to which a clause does not "
         "apply is skipped with the registry's reason. Each family's tolerance is stated once, in the registry: "
         "see [the per-family tolerances](tolerances.md#per-family).",
         ("PyTorch documentation: `torch.nn.Module.to`, `state_dict`, `torch.autograd.gradcheck`, "
          "`torch.compile`, automatic mixed precision (`torch.autocast`)",
          "the public record of positional-encoding bugs in half precision and under autocast: Hugging Face "
          "transformers issues #25681 and #29496 (a cos/sin cache regrown in bfloat16 after a cast) and PR #29285 "
          "(angles from a matmul that autocast ran in bfloat16)",
          "Hypothesis, stateful testing (`RuleBasedStateMachine`)"),
         ("every library of the [ready adapters](../adapters.md)",)),
    Page("tensor-semantics", "Tensor semantics", ("test_tensor_semantics.py",),
         "Facts about torch itself that the other families rely on: broadcasting, lookup as indexing, `view` "
         "against `reshape`, `x @ W`, `nn.Linear`'s weight layout. They check torch, not an implementation.",
         ("PyTorch documentation: broadcasting semantics, `torch.Tensor.view`, `torch.nn.Linear`, "
          "`torch.nn.Embedding`",),
         ("torch",)),
)


# --- reading the specification ------------------------------------------------------------------

@dataclass
class Clause:
    id: str
    level: str
    claim: str
    module: str  # spec/test_x.py's file name
    function: str
    line: int
    families: tuple  # the families whose factories it calls, or (CROSS_CUTTING,)
    needs: tuple = ()  # optional features the whole clause needs (@needs)
    draws_supported: bool = False  # takes the `supports` fixture: draws only supported configurations
    tolerances: tuple = ()  # names of spec/tolerances.py it uses, directly or through the module's helpers
    bounds: tuple = ()  # the atol= expressions as written in the property
    family_tolerance: bool = False  # uses the registry's per-family tolerance (family.atol / check / same)
    exact: bool = False  # compares bit for bit (assert_equal)
    page: Page = field(default=None, repr=False)


def _decorator_call(node, name):
    return isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == name


class _Uses:
    """What a property uses for its tolerance, followed into the functions of its own module."""

    def __init__(self, helpers, source):
        self.helpers, self.source = helpers, source
        self.tolerances, self.bounds, self.seen = set(), [], set()
        self.family_tolerance = self.exact = False

    def follow(self, function, *, top):
        self.seen.add(function.name)
        for node in ast.walk(function):
            self._visit(node, top)

    def _text(self, node):
        return " ".join(ast.get_source_segment(self.source, node).split())

    def _bound(self, value):
        """An atol= expression as written; a call of a helper of the module, with what the helper returns."""
        text = self._text(value)
        helper = self.helpers.get(getattr(value.func, "id", None)) if isinstance(value, ast.Call) else None
        if helper is None:
            return f"`atol={text}`"
        returns = [self._text(r.value) for r in ast.walk(helper) if isinstance(r, ast.Return) and r.value]
        return f"`atol={text}`, where `{helper.name}` returns " + " or ".join(f"`{r}`" for r in returns)

    def _visit(self, node, top):
        if isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "tolerances":
            self.tolerances.add(node.attr)
        if not isinstance(node, ast.Call):
            return
        if top:
            self.bounds += [self._bound(keyword.value) for keyword in node.keywords if keyword.arg == "atol"]
        callee = node.func
        if isinstance(callee, ast.Name):
            if callee.id == "assert_equal":
                self.exact = True
            if callee.id in self.helpers and callee.id not in self.seen:
                self.follow(self.helpers[callee.id], top=False)
        elif isinstance(callee, ast.Attribute) and getattr(callee.value, "id", None) == "family" \
                and callee.attr in ("atol", "check", "same"):
            self.family_tolerance = True


def _literal(node, constants):
    """A node's value where it is a literal, or a module constant bound to one (``@needs(PADDING)``); else (no
    node, an expression) None."""
    if isinstance(node, ast.Name):
        node = constants.get(node.id, node)
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def _constants(tree):
    """The module-level names bound to an expression: ``A = ...`` and ``A, B = ..., ...``."""
    constants = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            if isinstance(target, ast.Name):
                constants[target.id] = node.value
            elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple) \
                    and len(target.elts) == len(node.value.elts):
                constants.update((t.id, v) for t, v in zip(target.elts, node.value.elts) if isinstance(t, ast.Name))
    return constants


def _module_clauses(path):
    source = path.read_text()
    tree = ast.parse(source)
    helpers = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    constants = _constants(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        doc = ast.get_docstring(node) or ""
        match = CLAUSE_ID.match(doc)
        if not match:
            continue
        uses = _Uses(helpers, source)
        uses.follow(node, top=True)
        arguments = [a.arg for a in node.args.args + node.args.kwonlyargs]
        decorators = node.decorator_list
        cross = any(getattr(d, "id", None) == "over_families" for d in decorators)
        needs = tuple(_literal(arg, constants) or ast.unparse(arg)
                      for d in decorators if _decorator_call(d, "needs") for arg in d.args)
        found.append(Clause(
            id=match.group(1), level=match.group(2), claim=" ".join(doc[match.end():].split()),
            module=path.name, function=node.name, line=node.lineno,
            families=(CROSS_CUTTING,) if cross else tuple(a for a in arguments if a in FAMILIES),
            needs=needs, draws_supported="supports" in arguments,
            tolerances=tuple(sorted(uses.tolerances)), bounds=tuple(dict.fromkeys(uses.bounds)),
            family_tolerance=uses.family_tolerance, exact=uses.exact))
    return found


def clauses():
    """Every clause of the specification, in module order and source order, each with its page."""
    by_module = {module: page for page in PAGES for module in page.modules}
    found = []
    for path in sorted(SPEC.glob("test_*.py")):
        for clause in sorted(_module_clauses(path), key=lambda c: c.line):
            clause.page = by_module.get(path.name) or _page_of_unlisted(path)
            found.append(clause)
    return found


def _module_docstring(path):
    return ast.get_docstring(ast.parse(path.read_text())) or ""


def _page_of_unlisted(path):
    """A spec module no page lists yet still gets a page, so that none of its clauses is missing."""
    doc = _module_docstring(path) or path.stem
    return Page(path.stem.removeprefix("test_").replace("_", "-"), doc.splitlines()[0].rstrip("."), (path.name,),
                "", (), ())


def _tolerance_paragraphs(path):
    """The paragraphs of a spec module's docstring that derive its tolerance."""
    return [" ".join(p.split()) for p in _module_docstring(path).split("\n\n") if "tolerance" in p.lower()]


# --- writing the pages ---------------------------------------------------------------------------

def _prose(text):
    """Plain text from a docstring as Markdown: code spans kept, everything else literal (``<R(m) q, R(n) k>``
    is not an HTML tag, ``a * b * c`` no emphasis)."""
    parts = text.replace("``", "`").split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: no code spans at all
        parts = [text]
    for i in range(0, len(parts), 2):
        escaped = parts[i].replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        for char in "*_[]":
            escaped = escaped.replace(char, "\\" + char)
        parts[i] = escaped
    return "`".join(parts)


def _link_tolerance(name):
    return f"[`{name}`](tolerances.md#{name})"


def _families_of(clause):
    if clause.families == (CROSS_CUTTING,):
        return f"across {CROSS_CUTTING}"
    if clause.families:
        return "family " + ", ".join(f"`{family}`" for family in clause.families)
    return "no family factory (checks torch itself)"


def _clause_block(clause):
    lines = [f"### {clause.id} {{ #{clause.id} }}", "",
             f"**{clause.level}** · {_families_of(clause)} · `spec/{clause.module}::{clause.function}`", "",
             _prose(clause.claim[:1].upper() + clause.claim[1:]), ""]
    tolerance = []
    if clause.tolerances:
        tolerance.append(", ".join(_link_tolerance(name) for name in clause.tolerances))
    if clause.family_tolerance:
        tolerance.append("the family's own tolerance in the registry ([per family](tolerances.md#per-family))")
    if clause.exact:
        tolerance.append("exact: bit for bit")
    if clause.bounds:
        tolerance.append("as written: " + "; ".join(clause.bounds))
    lines.append("- Tolerance: " + ("; ".join(tolerance) if tolerance else "none stated: the claim is checked exactly, or is about structure or errors"))
    if clause.needs:
        lines.append("- Needs: " + ", ".join(f"`{feature}`" for feature in clause.needs)
                     + " (skipped as `not provided` where declared unsupported)")
    if clause.draws_supported:
        lines.append("- Draws only configurations whose optional features the implementation supports")
    lines.append(f"- Select it: `-k {clause.id}`")
    return lines + [""]


def _family_page(page, listed):
    lines = [f"# {page.title}", "", "<!-- Generated from spec/ by docs/hooks/catalogue.py: do not edit. -->", ""]
    if page.summary:
        lines += [page.summary, ""]
    must = sum(c.level == "must" for c in listed)
    lines += [f"{len(listed)} clauses: {must} `must`, {len(listed) - must} `should` "
              "([levels](../guide/levels.md)).", ""]
    if page.sources:
        lines += ["## Sources", ""] + [f"- {source}" for source in page.sources] + [""]
    if page.libraries:
        lines += ["## Where it lives", ""] + [f"- {library}" for library in page.libraries] + [""]
    paragraphs = [p for module in page.modules if (SPEC / module).exists() for p in _tolerance_paragraphs(SPEC / module)]
    if paragraphs:
        lines += ["## How the tolerance is derived", ""]
        lines += [p for paragraph in paragraphs for p in (_prose(paragraph), "")]
        lines += ["Every tolerance function, with its derivation: [Tolerances](tolerances.md).", ""]
    modules = [module for module in page.modules if any(c.module == module for c in listed)]
    for module in modules:
        lines += [f"## {_module_title(SPEC / module) if len(modules) > 1 else 'Clauses'}", ""]
        for clause in (c for c in listed if c.module == module):
            lines += _clause_block(clause)
    return "\n".join(lines)


def _module_title(path):
    """A spec module's subject, from its docstring's first line ("Device placement, across every family: ...")."""
    first = (_module_docstring(path) or path.stem).splitlines()[0]
    return re.split(r"[:(]", first)[0].strip().rstrip(".")


def _index_page(found):
    must = sum(c.level == "must" for c in found)
    lines = ["# Clause catalogue", "",
             "<!-- Generated from spec/ by docs/hooks/catalogue.py: do not edit. -->", "",
             f"Every clause of the specification: {len(found)} in all, {must} `must` and {len(found) - must} "
             "`should` ([what the levels mean](../guide/levels.md)). A failure names its clause id "
             "(`test_lookup_is_indexing[TOK-LOOKUP-01]`); find it below, or type it into the search box. "
             "Each id links to its claim, its level, the family and the tolerance that applies.", "",
             "This catalogue is generated from the properties' docstrings and code at every build of the "
             "documentation, so it lists exactly the clauses the installed specification checks.", "",
             "## Families", ""]
    for page in _pages_in_use(found):
        count = sum(c.page == page for c in found)
        lines.append(f"- [{page.title}]({page.slug}.md): {count} clauses")
    lines += ["- [Tolerances](tolerances.md): every tolerance and its derivation", "",
              "## Every clause id", "", "| id | level | family page | claim |", "| --- | --- | --- | --- |"]
    for clause in sorted(found, key=lambda c: c.id):
        claim = clause.claim[:1].upper() + clause.claim[1:]
        claim = claim if len(claim) <= 140 else claim[:137].rsplit(" ", 1)[0] + " ..."
        lines.append(f"| [{clause.id}]({clause.page.slug}.md#{clause.id}) | {clause.level} | "
                     f"{clause.page.title} | {_cell(_prose(claim))} |")
    return "\n".join(lines) + "\n"


def _pages_in_use(found):
    """The pages that list some clause, in the order of PAGES (a page for an unlisted module last)."""
    used = dict.fromkeys(c.page for c in found)
    return sorted(used, key=lambda page: PAGES.index(page) if page in PAGES else len(PAGES))


def _tolerances_page(found):
    source = (SPEC / "tolerances.py").read_text()
    tree = ast.parse(source)
    lines = ["# Tolerances", "", "<!-- Generated from spec/tolerances.py and spec/families.py by "
             "docs/hooks/catalogue.py: do not edit. -->", "",
             "Every property compares against the specification's own float64 (or more exact) oracle, within a "
             "tolerance derived here. The text is the docstrings and comments of `spec/tolerances.py`, where each "
             "bound is computed, in the order of that file.", "", "## The model", "", *_docstring(tree)]
    users = {}
    for clause in found:
        for name in clause.tolerances:
            users.setdefault(name, []).append(clause)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            name = node.name
            lines += [f"## `{name}` {{ #{name} }}", "", f"`{name}({ast.unparse(node.args)})`", "", *_docstring(node)]
        elif isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "").isupper():
            name = node.targets[0].id
            lines += [f"## `{name}` {{ #{name} }}", "", "```python", ast.get_source_segment(source, node), "```", "",
                      _prose(_comment_above(source, node)), ""]
        else:
            continue
        if name in users:
            lines += ["Used by " + ", ".join(f"[{c.id}]({c.page.slug}.md#{c.id})" for c in users[name]) + ".", ""]
    return "\n".join(lines + _per_family_tolerances())


def _docstring(node):
    """A docstring as Markdown: its paragraphs, and its ``- `` items as a list."""
    lines = []
    for paragraph in (ast.get_docstring(node) or "").split("\n\n"):
        blocks = [[]]  # the text before the first item, then one block per item
        for line in paragraph.splitlines():
            if line.lstrip().startswith("- "):
                blocks.append([line.lstrip()[2:]])
            else:
                blocks[-1].append(line)
        text, items = " ".join(" ".join(blocks[0]).split()), blocks[1:]
        lines += [_prose(text), ""] if text else []
        lines += [f"- {_prose(' '.join(' '.join(item).split()))}" for item in items] + ([""] if items else [])
    return lines


def _comment_above(source, node):
    """The block of ``#`` comment lines right above a statement, as one line of text."""
    comment = []
    for text in reversed(source.splitlines()[:node.lineno - 1]):
        if not text.startswith("#"):
            break
        comment.insert(0, text.lstrip("# ").rstrip())
    return " ".join(comment)


def _per_family_tolerances():
    """Each registry family's ``atol``, as written in spec/families.py."""
    source = (SPEC / "families.py").read_text()
    tree = ast.parse(source)
    rows = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        name = next((ast.literal_eval(s.value) for s in node.body if isinstance(s, ast.Assign)
                     and getattr(s.targets[0], "id", None) == "name"), None)
        method = next((s for s in node.body if isinstance(s, ast.FunctionDef) and s.name == "atol"), None)
        if not name or method is None:
            continue
        returns = [ast.get_source_segment(source, r.value) for r in ast.walk(method) if isinstance(r, ast.Return)]
        bound = " or ".join(" ".join(text.split()) for text in returns if text)
        rows.append(f"| `{name}` | `{bound.replace('|', '&#124;')}` |")
    return ["## Per family { #per-family }", "",
            "The clauses across every family (`DTYPE-VAL-01`, `DEV-CAST-01`, `SEQ-CALLS-01`, ...) hold each "
            "family to one tolerance, stated once in the registry (`spec/families.py`) with the functions above "
            "and applied with the epsilon of each dtype; a call that mixes dtypes is held to the least precise "
            "(`working_dtype`).", "", "| family | `atol(expected, args, dtype, config, conventions)` returns |",
            "| --- | --- |", *rows, ""]


# --- the ready adapters ---------------------------------------------------------------------------

def _clause_of_entry(entry_id, ids):
    """The clause an xfails entry names: a clause id, or a node id whose parameters begin with one."""
    parameters = entry_id.partition("[")[2].rstrip("]") if "[" in entry_id else entry_id
    return max((i for i in ids if parameters == i or parameters.startswith(i + "-")), key=len, default=None)


def _adapter_table():
    """(name, impl, distribution, title) of each ready adapter, from adapters/__init__.py's literal calls."""
    tree = ast.parse((ADAPTERS / "__init__.py").read_text())
    rows = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_many":
            module, _library, distribution, entries = (ast.literal_eval(a) for a in node.args)
            for attribute, title in entries:
                name = f"{module}.{attribute}" if attribute else module
                impl = f"embedspec.adapters.{module}" + (f":{attribute}" if attribute else "")
                rows.append((name, impl, distribution, title))
    return rows


def _declarations(module, attribute):
    """(families, conventions, unsupported) an adapter declares, read from its source: module-level factories and
    ``conventions`` / ``unsupported``, or the arguments of ``attribute = Implementation(name, conventions,
    unsupported, **families)``."""
    tree = ast.parse((ADAPTERS / f"{module}.py").read_text())
    constants = _constants(tree)
    if not attribute:
        families = [node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in FAMILIES]
        families += [name for name in constants if name in FAMILIES]
        return (families, _literal(constants.get("conventions"), constants) or {},
                _literal(constants.get("unsupported"), constants) or set())
    call = constants.get(attribute)
    if not isinstance(call, ast.Call):
        return None  # built some other way: the page points to the source
    keywords = {k.arg: k.value for k in call.keywords}
    arguments = call.args[1:] + [None] * 2
    unsupported = keywords.get("unsupported", arguments[1])
    return ([name for name in keywords if name in FAMILIES], _literal(arguments[0], constants) or {},
            _literal(unsupported, constants) or set())


def _declaration_lines(declared, module):
    if declared is None:
        return [f"- Families, conventions and unsupported features: see `adapters/{module}.py`"]
    families, conventions, unsupported = declared
    return ["- Families: " + (", ".join(f"`{family}`" for family in FAMILIES if family in families) or "—"),
            "- Conventions: " + (", ".join(f"`{key} = {value}`" for key, value in conventions.items()) or "the defaults"),
            "- Unsupported: " + (", ".join(f"`{feature}`" for feature in sorted(unsupported)) or "nothing")]


def adapters_section(found):
    """The generated part of docs/adapters.md: each adapter, its divergences with their levels and findings."""
    ids = {c.id: c for c in found}
    with open(ADAPTERS / "findings.toml", "rb") as handle:
        findings = {(f["adapter"], f["id"]): f for f in tomllib.load(handle).get("finding", [])}
    summary = ["| adapter (`--impl`) | library | binds | known divergences |", "| --- | --- | --- | --- |"]
    sections = []
    for name, impl, distribution, title in _adapter_table():
        path = ADAPTERS / "xfails" / f"{name}.toml"
        entries = tomllib.loads(path.read_text()).get("xfail", []) if path.exists() else []
        levels = [ids[c].level if (c := _clause_of_entry(e["id"], ids)) else "?" for e in entries]
        counted = ", ".join(f"{levels.count(level)} {level}" for level in ("must", "should", "?") if level in levels)
        summary.append(f"| [`{impl}`](#{name.replace('.', '-')}) | {distribution} | {title} | "
                       f"{len(entries)}{' (' + counted + ')' if entries else ''} |")
        module, _, attribute = impl.removeprefix("embedspec.adapters.").partition(":")
        sections += [f"### `{name}` {{ #{name.replace('.', '-')} }}", "",
                     f"`embedspec --impl {impl} --xfails adapters/xfails/{name}.toml`", "",
                     *_declaration_lines(_declarations(module, attribute), module), ""]
        if not entries:
            sections += ["No known divergence.", ""]
            continue
        sections += ["| clause | level | kind | what the library does | what it means for you |",
                     "| --- | --- | --- | --- | --- |"]
        for entry, level in zip(entries, levels):
            clause = _clause_of_entry(entry["id"], ids)
            cited = f"[{entry['id']}]({CATALOGUE}/{ids[clause].page.slug}.md#{clause})" if clause else f"`{entry['id']}`"
            finding = findings.get((name, entry["id"]), {})
            reason = entry["reason"] + (f" ([link]({entry['link']}))" if entry.get("link") else "")
            sections.append(" | ".join(("", cited, level, finding.get("kind", ""), _cell(reason),
                                        _cell(finding.get("consequence", "")), "")).strip())
        sections.append("")
    return "\n".join(summary + ["", *sections])


def features_table(found):
    """The optional features of the contract (embedspec/contract.py's FEATURES), with the clauses that need each."""
    needing = {feature: [c for c in found if feature in c.needs] for feature in FEATURES}
    rows = ["| feature | what an implementation lacks when it names it | clauses skipped as a whole |",
            "| --- | --- | --- |"]
    for feature, meaning in FEATURES.items():
        cited = ", ".join(f"[{c.id}](../{c.page.path}#{c.id})" for c in needing[feature]) or "—"
        rows.append(f"| `{feature}` | {_cell(meaning)} | {cited} |")
    return "\n".join(rows)


def _cell(text):
    return " ".join(text.replace("|", "&#124;").split())


MARKERS = {
    "<!-- generated: ready adapters -->": adapters_section,
    "<!-- generated: features -->": features_table,
}


# --- the whole generated set ----------------------------------------------------------------------

def pages(found=None):
    """{path under docs/: markdown} of every generated page of the catalogue."""
    found = clauses() if found is None else found
    generated = {f"{CATALOGUE}/index.md": _index_page(found), f"{CATALOGUE}/tolerances.md": _tolerances_page(found)}
    for page in _pages_in_use(found):
        generated[page.path] = _family_page(page, [c for c in found if c.page == page])
    for target, source in GENERATED_COPIES.items():
        generated[target] = (ROOT / source).read_text()
    return generated


def write(directory):
    """Write every generated page under ``directory``; returns the paths written."""
    written = []
    for relative, text in pages().items():
        path = Path(directory) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


# --- mkdocs hooks (mkdocs.yml: hooks) -------------------------------------------------------------

_built = {}


def on_config(config):
    """Read the specification once per build and put the family pages into the catalogue's navigation."""
    found = clauses()
    _built.update(clauses=found, pages=pages(found))
    family_pages = [{page.title: page.path} for page in _pages_in_use(found)]
    for item in config.nav or ():
        if isinstance(item, dict) and "Clause catalogue" in item:
            item["Clause catalogue"] = [f"{CATALOGUE}/index.md", *family_pages, f"{CATALOGUE}/tolerances.md"]
    return config


def on_files(files, config):
    from mkdocs.structure.files import File

    for relative, text in _built["pages"].items():
        files.append(File.generated(config, relative, content=text))
    return files


def on_page_markdown(markdown, page, config, files):
    """Fill the markers of the hand-written pages with the tables generated from the repository."""
    for marker, table in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, table(_built["clauses"]))
    return markdown

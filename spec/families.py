"""Every family as data, so that the cross-cutting properties are written once.

For each family of the contract a `Family` says how to build it small, how to make
a valid input, how to call it, and how to compute its float64 oracle result; which
of its tensors the contract calls learned; and which cross-cutting clauses do not
apply to it, with the reason. The properties of test_devices.py, test_dtypes.py,
test_autograd.py, test_purity.py, test_stateful.py and test_compile.py are
parameterised over `REGISTRY` with `over_families`, which keeps the clause id and
puts the family in the test id (`test_x[DEV-STRAY-01-rope-cpu]`).

Three kinds of family:
- ``module``: the factory builds an object (an nn.Module, for rope possibly a plain
  callable) that is then called on inputs;
- ``table``: the factory's own call is the computation (sizes in, tensor out);
- ``function``: the factory is called on input tensors.
Each family has a few `configs` (plain dicts: sizes and options, with a `label`);
a property runs every config of a family.

The oracles come from oracles.py, oracles_relative.py and oracles_extra.py;
nothing here imports the reference.
"""

import pytest
import torch
from torch import nn

from embedspec.clauses import clause_of

from . import oracles
from . import strategies as sts
from . import tolerances
from .calls import _accepts, assert_close, build
from .capabilities import supported
from .devices import held_tensors

F16, BF16, F32, F64 = torch.float16, torch.bfloat16, torch.float32, torch.float64
FLOAT_DTYPES = (F64, F32, F16, BF16)

# Reasons shared by several families.
NOT_A_MODULE = "returns a tensor, not a module: there is nothing to move, cast or save"
NO_TENSOR_INPUT = "takes only sizes, no input tensor"
NO_BATCH = "has no batch dimension"
FIXED_TABLE = "a fixed table of integer sizes: there is no tensor input or parameter to differentiate"
STATELESS = ("a function of its arguments: no object carries state from call to call "
             "(PURE-STATE-01 checks hidden caches)")
NO_ANGLES = "a learned table has no angles: a cast only rounds its entries, which DTYPE-VAL-01 checks"
ADDITIVE = ("x + table is defined for integer x by type promotion, and the promoted result is the formula's "
            "exactly: no float is required")
INTEGER_VALUED = "integer-valued: there is no gradient"


class Excluded(Exception):
    """Raised by a family when a clause does not apply to this implementation of it (a runtime reason)."""


def integer_dtype(dtype):
    return not dtype.is_floating_point and not dtype.is_complex and dtype != torch.bool


def least_precise(*dtypes):
    """The floating dtype with the largest epsilon among ``dtypes`` (non-floating ones ignored)."""
    floating = [d for d in dtypes if d in tolerances.EPS]
    return max(floating, key=tolerances.eps) if floating else F32


def module_dtype(obj):
    """The dtype of an object's first floating parameter or buffer, or None."""
    if isinstance(obj, nn.Module):
        for tensor in (*obj.parameters(), *obj.buffers()):
            if tensor.is_floating_point():
                return tensor.dtype
    return None


# Inputs added to a learned table have the table's size (GPT-2 and BERT initialise with
# std 0.02): against x of size 1 the tolerance of a float16 sum would hide a wrong row.
LEARNED_INPUT_SCALE = 0.05


def _max(tensor):
    return float(tensor.detach().abs().max()) if tensor.numel() else 0.0


class TableCall:
    """A table family's call, prepared: the factory, its sizes, and the device/dtype to ask for."""

    def __init__(self, factory, args, kwargs=None, *, device=None, dtype=None):
        self.factory, self.args, self.kwargs = factory, tuple(args), dict(kwargs or {})
        self.device, self.dtype = device, dtype

    def __call__(self):
        return build(self.factory, *self.args, device=self.device, dtype=self.dtype, **self.kwargs)

    def accepts(self, name):
        return _accepts(self.factory, name)

    def resolved(self):
        """(args, kwargs) of the factory call itself, device= and dtype= included only where accepted (the
        rest of ``build``'s work, the moves, is left to the caller)."""
        kwargs = dict(self.kwargs)
        for name, value in (("device", self.device), ("dtype", self.dtype)):
            if value is not None and self.accepts(name):
                kwargs[name] = value
        return self.args, kwargs

    def resized(self, index, size):
        """The same call with size argument ``index`` replaced."""
        args = list(self.args)
        args[index] = size
        return TableCall(self.factory, args, self.kwargs, device=self.device, dtype=self.dtype)

    def __repr__(self):
        shown = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        shown += [f"{k}={v!r}" for k, v in (("device", self.device), ("dtype", self.dtype)) if v is not None]
        return f"{getattr(self.factory, '__name__', 'factory')}({', '.join(shown)})"


class Family:
    """How to exercise one family; subclasses fill in the blanks."""

    name = ""
    kind = "module"
    configs = ({"label": "default"},)
    excluded = {}  # clause id -> why it does not apply to the family
    float_args = ()  # indices of floating input tensors (cast, differentiated, checked for mutation)
    int_args = ()  # indices of integer input tensors (ids, positions)
    batch_args = ()  # indices of the args whose first dimension is the batch
    dtypes = FLOAT_DTYPES  # the dtypes DTYPE-VAL-01 runs
    precision_needs = None  # the optional feature the precision case builds (``precision_runs``), if any

    # building and calling

    def supported_configs(self, implementation):
        """The configs whose optional feature (a config's ``needs``) the implementation has; skips the property as
        not provided when none is left."""
        return supported(implementation.supports, self.configs, lambda config: config.get("needs"))

    def make(self, factory, config, conventions, *, device=None, dtype=None):
        raise NotImplementedError

    def inputs(self, obj, config, *, seed=0, device="cpu", dtype=F32):
        return ()

    def run(self, obj, args):
        return obj(*args)

    # the oracle and its tolerance

    def expected(self, obj, args, config, conventions):
        """The float64 oracle result, on the CPU."""
        raise NotImplementedError

    def atol(self, expected, args, dtype, config, conventions):
        """The tolerance of a result computed in ``dtype`` (derived in tolerances.py)."""
        raise NotImplementedError

    def comparable(self, out, expected, args, config, conventions):
        """The parts of ``out`` and ``expected`` the contract specifies (default: all of both)."""
        return out, expected

    def check(self, out, obj, args, config, conventions, dtype, *, what):
        """``out`` matches the oracle within the tolerance of ``dtype``."""
        assert isinstance(out, torch.Tensor), f"{what}: returned a {type(out).__name__}, not a tensor"
        expected = self.expected(obj, args, config, conventions)
        assert tuple(out.shape) == tuple(expected.shape), (
            f"{what}: shape {tuple(out.shape)}, expected {tuple(expected.shape)}")
        atol = self.atol(expected, args, dtype, config, conventions)
        out, expected = self.comparable(out.detach().cpu(), expected, args, config, conventions)
        assert_close(out, expected, atol=atol, what=what)

    def same(self, first, second, args, config, conventions, *, atol=0.0, what):
        """Two results of the implementation agree on every specified entry."""
        assert tuple(first.shape) == tuple(second.shape), (
            f"{what}: shapes {tuple(first.shape)} and {tuple(second.shape)}")
        first64, second64 = first.detach().cpu().to(F64), second.detach().cpu().to(F64)
        first64, _ = self.comparable(first64, first64, args, config, conventions)
        second64, _ = self.comparable(second64, second64, args, config, conventions)
        assert_close(first64, second64, atol=atol, what=what)

    # dtypes

    def dtype_ok(self, out, obj, args, dtype):
        """Whether ``out`` has the dtype the contract gives a call made in ``dtype``; and what was expected."""
        return out.dtype == dtype, str(dtype)

    @property
    def wrong_dtype_kinds(self):
        """The kinds of wrong-dtype call that apply: "float" unless DTYPE-ERR-01 is excluded, "int" unless
        DTYPE-ERR-02 is (DTYPE-REFUSE-01 runs both)."""
        return tuple(kind for kind, clause in (("float", "DTYPE-ERR-01"), ("int", "DTYPE-ERR-02"))
                     if clause not in self.excluded)

    def exclusion(self, clause):
        """Why ``clause`` does not apply to the family, or None."""
        if clause == "DTYPE-REFUSE-01" and not self.wrong_dtype_kinds:
            return " and ".join(dict.fromkeys((self.excluded["DTYPE-ERR-01"], self.excluded["DTYPE-ERR-02"])))
        if clause.startswith("AUTOCAST-") and clause not in self.excluded:
            return self.excluded.get("DEV-PREC-01")  # the autocast clauses run DEV-PREC-01's cases: where it applies
        return self.excluded.get(clause)

    def wrong_dtype_calls(self, obj, args, config, kind):
        """Calls with an integer tensor where a float is required (kind "int") or vice versa ("float"):
        a list of (description, thunk, the names the error must mention)."""
        return []

    # autograd

    def learned(self, obj, config, conventions):
        """The contract's learned tensors: (name, tensor, rows that must get exactly zero gradient,
        whether this call must give it a gradient)."""
        return []

    def gradcheck_inputs(self, args, config):
        """The inputs for gradcheck: by default the usual ones (the padding id is left out where the
        contract withholds its row's gradient on purpose)."""
        return args

    def differentiable(self, out, args, config, conventions):
        """The part of the output that is specified, flattened, for gradient checks."""
        return self.comparable(out, out, args, config, conventions)[0]

    # batches

    def batch_item(self, args, index):
        """The args of batch row ``index`` alone."""
        return tuple(a[index:index + 1] if i in self.batch_args else a for i, a in enumerate(args))

    # call sequences (modules): the inputs of one call of ``length`` positions from ``offset``

    def sequence_limits(self, config, conventions):
        """(longest legal length, largest legal offset) for call sequences."""
        return 1, 0

    def sequence_reach(self, config, conventions):
        """How far past the largest legal offset a call sequence's offsets go (0: not at all). A call there may be
        refused where the contract allows it (RoPE positions past max_seq_len: ROPE-BEYOND-01 judges that)."""
        return 0

    def sequence_inputs(self, obj, config, conventions, *, length, offset, dtype, seed, device):
        return self.inputs(obj, config, seed=seed, device=device, dtype=dtype)

    def at_length(self, obj, config, conventions, length, device):
        """(obj, args) for a call whose sequence length is ``length`` (COMPILE-DYN-01); modules use their call
        sequences, functions and tables override this."""
        longest, _ = self.sequence_limits(config, conventions)
        if longest < 6:
            raise Excluded("no sequence length to vary")
        return obj, self.sequence_inputs(obj, config, conventions, length=length, offset=0, dtype=F32, seed=0,
                                         device=device)

    def input_dtype(self, obj, dtype):
        """The dtype of the floating inputs of a call drawn in ``dtype`` (default: as drawn, independent of the
        module's own dtype; families whose contract ties them to the weight's override this)."""
        return dtype

    # precision after a cast with the model (DEV-PREC-01)

    def precision_case(self, factory, conventions, *, device, dtype):
        """(obj, args, positions along the output's axis ``position_axis``, config) at positions in the
        tens of thousands, the module cast with ``.to(dtype)`` as a model is."""
        raise Excluded("no positions")

    def past_cache_case(self, factory, conventions, *, device, dtype):
        """``precision_case`` with the module built with a short cache (max_seq_len, max_len), so that the positions
        go past what it built at construction."""
        raise Excluded("keeps no cache to go past")

    decodes = False  # whether a decoder calls the family in several calls, in order (``decoded``)

    def decoded(self, obj, args):
        """The result for ``args`` computed in several calls, in order, as a decoder calls the family: one token at
        a time, or a growing prefix."""
        raise NotImplementedError

    position_axis = 1
    precision_operations = 2

    def precision_bound(self, expected, args, positions, dtype, conventions):
        """Per position: float32 accuracy of the angles (what is owed whatever the dtype) plus the
        rounding of the result into ``dtype`` (tolerances.cast_model_atol)."""
        return tolerances.cast_model_atol(dtype, positions.to(F64).abs(), _max(expected) + 1.0,
                                          operations=self.precision_operations)

    def __repr__(self):
        return self.name


def _without_padding(args, config):
    """Ids with the padding id replaced: its row takes part in the forward but, by design, gets no gradient."""
    pad = config.get("padding_idx")
    if pad is None:
        return args
    ids = args[0]
    return (torch.where(ids == pad, (pad + 1) % config["vocab"], ids), *args[1:])


def _scaled_lookup(weight, ids, scale):
    return weight.detach().cpu().to(F64)[ids.cpu().long()] * scale


# -- token_embedding ------------------------------------------------------------------------------


class TokenEmbedding(Family):
    name = "token_embedding"
    configs = ({"label": "plain", "vocab": 7, "dim": 4, "padding_idx": None},
               {"label": "padding_idx=0", "vocab": 7, "dim": 4, "padding_idx": 0, "needs": "token_embedding.padding_idx"})
    excluded = {
        "DEV-PREC-01": NO_ANGLES,
        "DTYPE-ERR-02": "its only input is integer ids",
    }
    int_args = (0,)
    batch_args = (0,)

    def make(self, factory, config, conventions, *, device=None, dtype=None):
        kwargs = {} if config["padding_idx"] is None else {"padding_idx": config["padding_idx"]}
        return build(factory, config["vocab"], config["dim"], device=device, dtype=dtype, **kwargs).eval()

    def inputs(self, obj, config, *, seed=0, device="cpu", dtype=F32):
        ids = sts.randint(0, config["vocab"], (3, 5), seed)
        if config["padding_idx"] is not None:
            ids[0, 0] = config["padding_idx"]  # the padding id always occurs
        return (ids.to(device),)

    def expected(self, obj, args, config, conventions):
        scale = oracles.token_scale(config["dim"], conventions["token_embedding.scale"])
        return _scaled_lookup(obj.weight, args[0], scale)

    def atol(self, expected, args, dtype, config, conventions):
        return tolerances.atol(dtype, operations=2, magnitude=_max(expected))  # the row, times a rounded scale

    def dtype_ok(self, out, obj, args, dtype):
        return out.dtype == obj.weight.dtype, f"the weight's {obj.weight.dtype}"

    def wrong_dtype_calls(self, obj, args, config, kind):
        if kind == "float":
            return [("float ids", lambda: obj(args[0].float()), ("float",))]
        return []

    def learned(self, obj, config, conventions):
        pad = [] if config["padding_idx"] is None else [config["padding_idx"]]
        return [("weight", obj.weight, pad, True)]

    def gradcheck_inputs(self, args, config):
        return _without_padding(args, config)

    def sequence_limits(self, config, conventions):
        return 8, 0

    def sequence_inputs(self, obj, config, conventions, *, length, offset, dtype, seed, device):
        return (sts.randint(0, config["vocab"], (2, length), seed).to(device),)


def _growing_prefixes(family, obj, args, first=16):
    """A decoder without positions re-encodes its growing sequence: calls on the first 16, 32, 64, ... tokens of
    args[0] (the last call on all of them), each contributing the rows it adds. 16 is past every short cache and
    max_len the precision cases build."""
    total, rows, done = args[0].shape[1], [], 0
    length = min(first, total)
    while done < total:
        out = family.run(obj, (args[0][:, :length], *args[1:]))
        rows.append(out[:, done:length])
        done, length = length, min(2 * length, total)
    return torch.cat(rows, dim=1)


def precision_runs(family, factory, conventions, *, device, dtype, input_dtype=None, supports=lambda feature: True):
    """The runs of DEV-PREC-01 and the autocast clauses: (what, obj, args, positions, config, call), the family's
    precision case and, where it keeps a cache, its case past a short one, each in one call and as a decoder calls
    it (``Family.decoded``); the floating inputs in ``input_dtype`` where given. ``call()`` returns the result, or
    None where a call past the cache was refused (the family's own beyond clause judges a refusal). Raises Excluded
    when the family has no precision case; skips as not provided where the case needs a feature ``supports`` denies."""
    if family.precision_needs:
        supported(supports, [family.precision_needs], lambda feature: feature)
    runs = []
    for past, make in ((False, family.precision_case), (True, family.past_cache_case)):
        try:
            case = make(factory, conventions, device=device, dtype=dtype)
        except Excluded:
            if not past:
                raise
            continue
        for decode in (False, True) if family.decodes else (False,):
            # a fresh object for the decoder's run: neither run may find a cache the other one grew
            obj, args, positions, config = make(factory, conventions, device=device, dtype=dtype) if decode else case
            if input_dtype is not None:
                args = tuple(a.to(input_dtype) if i in family.float_args else a for i, a in enumerate(args))
            what = ("past its cache, " if past else "") + ("as a decoder calls it" if decode else "in one call")
            runs.append((what, obj, args, positions, config, _precision_call(family, obj, args, decode, past)))
    return runs


def assert_precise(out, expected, bound, positions, axis, *, what, cause="the angles are not formed in float32"):
    """The largest error at each position along ``axis`` is within ``bound`` (one per position); otherwise name the
    first position off and the worst, and ``cause``, what the caller knows of why."""
    error = (out.detach().cpu().to(F64) - expected).abs().nan_to_num(float("inf"))
    per_position = error.movedim(axis, 0).reshape(error.shape[axis], -1).amax(dim=1)
    bad = per_position > bound
    if bad.any():
        first = int(bad.nonzero()[0])
        worst = int(per_position.argmax())
        raise AssertionError(
            f"{what}: first wrong at position {int(positions[first])}: error {per_position[first].item():.3g} > "
            f"tolerance {float(bound[first]):.3g}; {int(bad.sum())} of {bad.numel()} positions off, worst at "
            f"position {int(positions[worst])} (error {per_position[worst].item():.3g}): {cause}")


LOW_PRECISION = (BF16, F16, torch.complex32)


def low_precision_held(obj):
    """``name (shape) dtype`` of every buffer and other tensor a module holds in a half precision (not its
    parameters, whose rounding a cast owes), for a diagnosis after a cast."""
    if not isinstance(obj, nn.Module):
        return []
    held = [(f"buffer {name}", t) for name, t in obj.named_buffers()]
    held += [(f"attribute {name}", t) for name, t in held_tensors(obj)]
    return [f"{name} {tuple(t.shape)} {t.dtype}" for name, t in held if t.dtype in LOW_PRECISION]


def cast_diagnosis(obj):
    """Why a module cast to a half precision may lose its angles, from what it holds after the cast: the error
    grows with the position as the angle p * w does, whether p * w is formed in the half precision or from a
    frequency, position or cos/sin table the cast rounded."""
    held = low_precision_held(obj)
    if held:
        return (f"after the cast the module holds {', '.join(held)}: angles formed from a frequency or position "
                f"tensor among them, or a cos/sin table rounded in them, carry the cast's precision; keep such "
                f"tensors in float32 through the cast")
    return ("the module holds no tensor in a half precision after the cast: the angles lose float32 accuracy "
            "during the call (p * w formed in x's dtype)")


def _precision_call(family, obj, args, decode, may_refuse):
    def call():
        try:
            return family.decoded(obj, args) if decode else family.run(obj, args)
        except Exception:
            if not may_refuse:
                raise
            return None
    return call


# -- sinusoidal_encoding --------------------------------------------------------------------------


def _sinusoid(conventions, positions, dim, base=10000.0):
    return oracles.sinusoidal_table(positions, dim, base, conventions["sinusoidal.layout"],
                                    conventions["sinusoidal.frequencies"])


class SinusoidalEncoding(Family):
    name = "sinusoidal_encoding"
    kind = "table"
    configs = ({"label": "9x8", "num_positions": 9, "dim": 8},)
    excluded = {
        "DEV-MOVE-01": NOT_A_MODULE, "DEV-CAST-01": NOT_A_MODULE, "DEV-STATE-01": NOT_A_MODULE,
        "DTYPE-ERR-01": NO_TENSOR_INPUT, "DTYPE-ERR-02": NO_TENSOR_INPUT,
        "GRAD-CHECK-01": FIXED_TABLE, "GRAD-FLOW-01": FIXED_TABLE,
        "PURE-INPUT-01": NO_TENSOR_INPUT, "PURE-BATCH-01": NO_BATCH, "SEQ-CALLS-01": STATELESS,
    }
    position_axis = 0

    def make(self, factory, config, conventions, *, device=None, dtype=None):
        return TableCall(factory, (config["num_positions"], config["dim"]), device=device, dtype=dtype)

    def at_length(self, obj, config, conventions, length, device):
        return obj.resized(0, length), ()

    def run(self, obj, args):
        return obj()

    def expected(self, obj, args, config, conventions):
        return _sinusoid(conventions, torch.arange(obj.args[0]), obj.args[1])

    def atol(self, expected, args, dtype, config, conventions):
        return tolerances.angle_atol(dtype, max(config["num_positions"] - 1, 0))

    def dtype_ok(self, out, obj, args, dtype):
        wanted = obj.dtype or torch.get_default_dtype()
        return out.dtype == wanted, str(wanted)

    def precision_case(self, factory, conventions, *, device, dtype):
        if dtype != F32 and not _accepts(factory, "dtype"):
            raise Excluded("the factory takes no dtype= keyword: a table in a low precision is a cast of its float32 "
                           "table, rounded once")
        length = 2**15
        return TableCall(factory, (length, 8), device=device, dtype=dtype), (), torch.arange(length), {}


# -- sinusoidal_module ----------------------------------------------------------------------------


class SinusoidalModule(Family):
    name = "sinusoidal_module"
    configs = ({"label": "S<max_len", "dim": 8, "max_len": 7, "seq": 5},
               {"label": "S=max_len", "dim": 8, "max_len": 7, "seq": 7})
    excluded = {"DTYPE-ERR-01": "its only input is floating", "DTYPE-ERR-02": ADDITIVE}
    float_args = (0,)
    batch_args = (0,)

    def make(self, factory, config, conventions, *, device=None, dtype=None):
        return build(factory, config["dim"], config["max_len"], device=device, dtype=dtype).eval()

    def inputs(self, obj, config, *, seed=0, device="cpu", dtype=F32):
        return (sts.randn((3, config["seq"], config["dim"]), seed, dtype).to(device),)

    def expected(self, obj, args, config, conventions):
        x = args[0]
        return x.detach().cpu().to(F64) + _sinusoid(conventions, torch.arange(x.shape[1]), x.shape[2])

    def atol(self, expected, args, dtype, config, conventions):
        seq = args[0].shape[1]
        return tolerances.angle_atol(dtype, seq) + tolerances.atol(dtype, magnitude=_max(expected) + 1.0)

    def dtype_ok(self, out, obj, args, dtype):
        x = args[0]
        own = module_dtype(obj)
        allowed = {x.dtype} | ({torch.promote_types(x.dtype, own)} if own is not None else set())
        return out.dtype in allowed, " or ".join(sorted(map(str, allowed)))

    def sequence_limits(self, config, conventions):
        extend = conventions["sinusoidal.beyond_max_len"] == "extend"
        return config["max_len"] + (6 if extend else 0), 0

    def sequence_inputs(self, obj, config, conventions, *, length, offset, dtype, seed, device):
        return (sts.randn((2, length, config["dim"]), seed, dtype).to(device),)

    def precision_case(self, factory, conventions, *, device, dtype, max_len=2**15):
        length = 2**15
        module = build(factory, 8, max_len, device=device).eval().to(dtype)
        return module, (torch.zeros(1, length, 8, dtype=dtype, device=device),), torch.arange(length), {}

    def past_cache_case(self, factory, conventions, *, device, dtype):
        if conventions["sinusoidal.beyond_max_len"] != "extend":
            raise Excluded("refuses a sequence past max_len (sinusoidal.beyond_max_len = raise)")
        return self.precision_case(factory, conventions, device=device, dtype=dtype, max_len=16)

    decodes = True

    def decoded(self, obj, args):
        return _growing_prefixes(self, obj, args)


# -- learned_positional ---------------------------------------------------------------------------


class LearnedPositional(Family):
    name = "learned_positional"
    configs = ({"label": "default positions", "max_len": 7, "dim": 4, "seq": 5, "positions": None},
               {"label": "positions (S,)", "max_len": 7, "dim": 4, "seq": 5, "positions": "S"},
               {"label": "positions (B, S)", "max_len": 7, "dim": 4, "seq": 7, "positions": "BS"})
    excluded = {"DEV-PREC-01": NO_ANGLES, "DTYPE-ERR-02": ADDITIVE}
    float_args = (0,)

    def make(self, factory, config, conventions, *, device=None, dtype=None):
        return build(factory, config["max_len"], config["dim"], device=device, dtype=dtype).eval()

    def inputs(self, obj, config, *, seed=0, device="cpu", dtype=F32):
        x = (sts.randn((3, config["seq"], config["dim"]), seed) * LEARNED_INPUT_SCALE).to(dtype).to(device)
        if config["positions"] is None:
            return (x,)
        shape = (config["seq"],) if config["positions"] == "S" else (3, config["seq"])
        return x, sts.randint(0, config["max_len"], shape, seed + 1).to(device)

    int_args = (1,)

    def batch_item(self, args, index):
        x = args[0][index:index + 1]
        if len(args) == 1:
            return (x,)
        positions = args[1]
        return x, (positions[index:index + 1] if positions.dim() == 2 else positions)

    def _positions(self, args):
        return args[1].cpu() if len(args) > 1 else torch.arange(args[0].shape[1])

    def expected(self, obj, args, config, conventions):
        scale = oracles.learned_scale(obj.weight.shape[1], conventions["learned_positional.scale"])
        return args[0].detach().cpu().to(F64) + _scaled_lookup(obj.weight, self._positions(args), scale)

    def atol(self, expected, args, dtype, config, conventions):
        return tolerances.atol(dtype, operations=2, magnitude=_max(expected) + _max(args[0]))

    def dtype_ok(self, out, obj, args, dtype):
        allowed = {args[0].dtype, torch.promote_types(args[0].dtype, obj.weight.dtype)}
        return out.dtype in allowed, " or ".join(sorted(map(str, allowed)))

    def wrong_dtype_calls(self, obj, args, config, kind):
        if kind == "float" and len(args) > 1:
            return [("float positions", lambda: obj(args[0], args[1].float()), ("float",))]
        return []

    def learned(self, obj, config, conventions):
        return [("weight", obj.weight, [], True)]

    def sequence_limits(self, config, conventions):
        return config["max_len"], config["max_len"] - 1

    def sequence_inputs(self, obj, config, conventions, *, length, offset, dtype, seed, device):
        x = (sts.randn((2, length, config["dim"]), seed) * LEARNED_INPUT_SCALE).to(dtype).to(device)
        if offset == 0:
            return (x,)  # the default positions
        offset = min(offset, config["max_len"] - length)
        return x, torch.arange(offset, offset + length, device=device)


# -- transformer_embedding ------------------------------------------------------------------------


class TransformerEmbedding(Family):
    name = "transformer_embedding"
    configs = ({"label": "learned", "vocab": 7, "dim": 8, "max_len": 6, "seq": 5, "positional": "learned",
                "padding_idx": 0, "needs": "token_embedding.padding_idx"},
               {"label": "learned, no padding", "vocab": 7, "dim": 8, "max_len": 6, "seq": 4, "positional": "learned",
                "padding_idx": None},
               {"label": "sinusoidal", "vocab": 7, "dim": 8, "max_len": 6, "seq": 6, "positional": "sinusoidal",
                "padding_idx": None, "needs": "transformer_embedding.sinusoidal"})
    excluded = {"DTYPE-ERR-02": "its only input is integer ids"}
    int_args = (0,)
    batch_args = (0,)
    precision_operations = 3
    precision_needs = "transformer_embedding.sinusoidal"  # the learned form has no angles

    def make(self, factory, config, conventions, *, device=None, dtype=None):
        kwargs = {"positional": config["positional"], "dropout": 0.0}
        if config["padding_idx"] is not None:
            kwargs["padding_idx"] = config["padding_idx"]
        return build(factory, config["vocab"], config["dim"], config["max_len"], device=device, dtype=dtype,
                     **kwargs).eval()

    def inputs(self, obj, config, *, seed=0, device="cpu", dtype=F32):
        ids = sts.randint(0, config["vocab"], (3, config["seq"]), seed)
        if config["padding_idx"] is not None:
            ids[0, 0] = config["padding_idx"]
        return (ids.to(device),)

    def _position(self, obj, seq, dim, config, conventions):
        if config["positional"] == "learned":
            scale = oracles.learned_scale(dim, conventions["learned_positional.scale"])
            return obj.positional.weight.detach().cpu().to(F64)[:seq] * scale
        return _sinusoid(conventions, torch.arange(seq), dim)

    def expected(self, obj, args, config, conventions):
        ids = args[0]
        weight = obj.token_embedding.weight
        dim = weight.shape[1]
        tokens = _scaled_lookup(weight, ids, oracles.token_scale(dim, conventions["token_embedding.scale"]))
        return tokens + self._position(obj, ids.shape[1], dim, config, conventions)

    def atol(self, expected, args, dtype, config, conventions):
        return (tolerances.angle_atol(dtype, args[0].shape[1])
                + tolerances.atol(dtype, operations=3, magnitude=_max(expected) + 1.0))

    def dtype_ok(self, out, obj, args, dtype):
        wanted = obj.token_embedding.weight.dtype
        return out.dtype == wanted, f"the token weight's {wanted}"

    def wrong_dtype_calls(self, obj, args, config, kind):
        if kind == "float":
            return [("float ids", lambda: obj(args[0].float()), ("float",))]
        return []

    def gradcheck_inputs(self, args, config):
        return _without_padding(args, config)

    def learned(self, obj, config, conventions):
        pad = [] if config["padding_idx"] is None else [config["padding_idx"]]
        tensors = [("token_embedding.weight", obj.token_embedding.weight, pad, True)]
        if config["positional"] == "learned":
            tensors.append(("positional.weight", obj.positional.weight, [], True))
        return tensors

    def sequence_limits(self, config, conventions):
        return config["max_len"], 0

    def sequence_inputs(self, obj, config, conventions, *, length, offset, dtype, seed, device):
        return (sts.randint(0, config["vocab"], (2, length), seed).to(device),)

    def precision_case(self, factory, conventions, *, device, dtype):
        length = 2**15
        model = build(factory, 7, 8, length, positional="sinusoidal", device=device).eval().to(dtype)
        ids = sts.randint(0, 7, (1, length), 0).to(device)
        return model, (ids,), torch.arange(length), {"positional": "sinusoidal"}

    decodes = True

    def decoded(self, obj, args):
        return _growing_prefixes(self, obj, args)


# -- rope -----------------------------------------------------------------------------------------


def _oracles_relative():
    from . import oracles_relative

    return oracles_relative


def _oracles_extra():
    from . import oracles_extra

    return oracles_extra


def _rope(factory, head_dim, max_seq_len, device, dtype):
    """The rotary object: a module (moved and cast like a model's) or a plain function (used as it is)."""
    kwargs = {"device": device} if device is not None and _accepts(factory, "device") else {}
    obj = factory(head_dim, max_seq_len=max_seq_len, **kwargs)
    if isinstance(obj, nn.Module):
        obj = obj.eval().to(device=device if "device" not in kwargs else None, dtype=dtype)
    return obj


class Rope(Family):
    name = "rope"
    configs = ({"label": "positions (S,)", "head_dim": 8, "heads": 2, "seq": 5, "max_seq_len": 16, "positions": "S"},
               {"label": "positions (B, S)", "head_dim": 8, "heads": 2, "seq": 5, "max_seq_len": 16,
                "positions": "BS", "needs": "rope.batched_positions"})
    excluded = {"DTYPE-ERR-01": "positions may legitimately be fractional (position interpolation)"}
    float_args = (0,)
    int_args = (1,)
    precision_operations = 4

    def make(self, factory, config, conventions, *, device=None, dtype=None):
        return _rope(factory, config["head_dim"], config["max_seq_len"], device, dtype)

    def inputs(self, obj, config, *, seed=0, device="cpu", dtype=F32):
        x = sts.randn((3, config["seq"], config["heads"], config["head_dim"]), seed, dtype).to(device)
        if config["positions"] == "S":
            positions = torch.arange(3, 3 + config["seq"])
        else:
            positions = sts.randint(0, config["max_seq_len"], (3, config["seq"]), seed + 1)
        return x, positions.to(device)

    def batch_item(self, args, index):
        x, positions = args
        return x[index:index + 1], (positions[index:index + 1] if positions.dim() == 2 else positions)

    def expected(self, obj, args, config, conventions):
        return _oracles_relative().rope(args[0].detach().cpu(), args[1].cpu(), 10000.0, conventions["rope.pairing"])

    def atol(self, expected, args, dtype, config, conventions):
        rel = _oracles_relative()
        x, positions = args[0].detach().cpu(), args[1].cpu()
        angle = rel.rope_feature_angles(positions, x.shape[-1], conventions["rope.pairing"])
        magnitude = rel.rope_pair_magnitude(x, conventions["rope.pairing"])
        return float(tolerances.rotation_atol(dtype, angle, magnitude).max())

    def dtype_ok(self, out, obj, args, dtype):
        return out.dtype == args[0].dtype, f"x's {args[0].dtype}"

    def wrong_dtype_calls(self, obj, args, config, kind):
        if kind == "int":
            return [("integer x", lambda: obj(args[0].round().long(), args[1]), ("int", "long"))]
        return []

    def sequence_limits(self, config, conventions):
        return config["max_seq_len"], config["max_seq_len"] - 1

    def sequence_reach(self, config, conventions):
        return 2**12  # past 256 a position rounded to bfloat16 is off by a radian, past 2048 one in float16

    def sequence_inputs(self, obj, config, conventions, *, length, offset, dtype, seed, device):
        if offset < config["max_seq_len"]:  # a legal offset: the call stays within the cache
            offset = min(offset, config["max_seq_len"] - length)
        x = sts.randn((2, length, config["heads"], config["head_dim"]), seed, dtype).to(device)
        return x, torch.arange(offset, offset + length, device=device)

    def precision_case(self, factory, conventions, *, device, dtype, max_seq_len=2**15):
        length = 2**15
        obj = _rope(factory, 8, max_seq_len, device, dtype)
        # positions spread over 0 .. 2^15 - 1, the last ones included
        positions = torch.cat([torch.arange(0, length, 509), torch.arange(length - 8, length)]).to(device)
        x = sts.randn((1, positions.numel(), 1, 8), 0, dtype).to(device)
        return obj, (x, positions), positions.cpu(), {}

    def past_cache_case(self, factory, conventions, *, device, dtype):
        return self.precision_case(factory, conventions, device=device, dtype=dtype, max_seq_len=16)

    decodes = True

    def decoded(self, obj, args):
        x, positions = args  # one token at a time, positions in increasing order
        return torch.cat([obj(x[:, s:s + 1], positions[..., s:s + 1]) for s in range(x.shape[1])], dim=1)

    def precision_bound(self, expected, args, positions, dtype, conventions):
        rel = _oracles_relative()
        x = args[0].detach().cpu()
        angle = rel.rope_feature_angles(positions, 8, conventions["rope.pairing"])
        bound = tolerances.rotation_atol(dtype, angle, rel.rope_pair_magnitude(x, conventions["rope.pairing"]))
        return bound.amax(dim=(0, 2, 3))  # per position


# -- alibi ----------------------------------------------------------------------------------------

_TABLE_EXCLUSIONS = {
    "DEV-MOVE-01": NOT_A_MODULE, "DEV-CAST-01": NOT_A_MODULE, "DEV-STATE-01": NOT_A_MODULE,
    "DTYPE-ERR-01": NO_TENSOR_INPUT, "DTYPE-ERR-02": NO_TENSOR_INPUT,
    "GRAD-CHECK-01": FIXED_TABLE, "GRAD-FLOW-01": FIXED_TABLE,
    "PURE-INPUT-01": NO_TENSOR_INPUT, "PURE-BATCH-01": NO_BATCH, "SEQ-CALLS-01": STATELESS,
}


class AlibiSlopes(Family):
    name = "alibi_slopes"
    kind = "table"
    configs = ({"label": "8 heads", "num_heads": 8}, {"label": "6 heads", "num_heads": 6})
    excluded = {**_TABLE_EXCLUSIONS, "DEV-PREC-01": "slopes do not depend on positions"}

    def at_length(self, obj, config, conventions, length, device):
        raise Excluded("no sequence length: the number of heads is fixed with the model")

    def make(self, factory, config, conventions, *, device=None, dtype=None):
        return TableCall(factory, (config["num_heads"],), device=device, dtype=dtype)

    def run(self, obj, args):
        return obj()

    def expected(self, obj, args, config, conventions):
        return _oracles_relative().alibi_slopes(config["num_heads"])

    def atol(self, expected, args, dtype, config, conventions):
        # 2^(-8k/n): an exponent of size up to 8 rounded, then a power: relative error ~ 8 eps
        return tolerances.atol(dtype, operations=8, magnitude=_max(expected))

    dtype_ok = SinusoidalEncoding.dtype_ok


class AlibiBias(Family):
    name = "alibi_bias"
    kind = "table"
    configs = ({"label": "q_len<k_len", "num_heads": 4, "q_len": 3, "k_len": 6},
               {"label": "q_len=k_len", "num_heads": 6, "q_len": 5, "k_len": 5})
    excluded = {**_TABLE_EXCLUSIONS,
                "DEV-PREC-01": "its entries grow with the distance, so a cast is a relative rounding (DTYPE-VAL-01): "
                               "there are no angles to lose"}

    def make(self, factory, config, conventions, *, device=None, dtype=None):
        return TableCall(factory, (config["num_heads"], config["q_len"], config["k_len"]), device=device, dtype=dtype)

    def at_length(self, obj, config, conventions, length, device):
        return obj.resized(1, length).resized(2, length), ()

    def run(self, obj, args):
        return obj()

    def expected(self, obj, args, config, conventions):
        return _oracles_relative().alibi_bias(config["num_heads"], config["q_len"], config["k_len"])

    def atol(self, expected, args, dtype, config, conventions):
        return tolerances.atol(dtype, operations=10, magnitude=_max(expected) + 1.0)  # a slope's error, times |i - j|

    def comparable(self, out, expected, args, config, conventions):
        if conventions["alibi.mode"] != "causal":
            return out, expected
        # causal: for j <= i the bias is -m (i - j) up to a constant per query row; entries j > i are unspecified
        q_len, k_len = out.shape[-2:]
        distance = _oracles_relative().alibi_distance(q_len, k_len)  # i - j
        keep = distance >= 0
        diagonal = torch.arange(q_len) + (k_len - q_len)  # key j = i of each query row
        out64, expected64 = out.to(F64), expected.to(F64)
        slopes = _oracles_relative().alibi_slopes(out.shape[0])[:, None, None]
        causal = -slopes * distance  # the linear form
        out_rows = out64 - out64[:, torch.arange(q_len), diagonal][..., None]
        causal_rows = causal - causal[:, torch.arange(q_len), diagonal][..., None]
        return torch.where(keep, out_rows, 0.0), torch.where(keep, causal_rows, 0.0)

    dtype_ok = SinusoidalEncoding.dtype_ok


# -- relative_position_bucket ---------------------------------------------------------------------


class RelativePositionBucket(Family):
    name = "relative_position_bucket"
    kind = "function"
    configs = ({"label": "bidirectional", "bidirectional": True, "needs": "relative_position_bucket.bidirectional"},
               {"label": "causal", "bidirectional": False, "needs": "relative_position_bucket.unidirectional"})
    excluded = {
        "DEV-MOVE-01": NOT_A_MODULE, "DEV-CAST-01": NOT_A_MODULE, "DEV-STATE-01": NOT_A_MODULE,
        "DEV-PREC-01": "integer buckets: no angles and no rounding", "DTYPE-ERR-02": "its only input is integer",
        "GRAD-CHECK-01": INTEGER_VALUED, "GRAD-FLOW-01": INTEGER_VALUED, "SEQ-CALLS-01": STATELESS,
    }
    int_args = (0,)
    batch_args = (0,)
    dtypes = (torch.int64, torch.int32)

    def make(self, factory, config, conventions, *, device=None, dtype=None):
        def bucket(relative_position):
            return factory(relative_position, bidirectional=config["bidirectional"], num_buckets=32, max_distance=128)

        bucket.__name__ = getattr(factory, "__name__", "relative_position_bucket")
        bucket.factory = factory
        return bucket

    def inputs(self, obj, config, *, seed=0, device="cpu", dtype=torch.int64):
        # memory - query over a grid, past max_distance on both sides, 0 and the exact/log boundary included
        relative = sts.randint(-300, 300, (3, 8), seed)
        relative[0, :4] = torch.tensor([0, 1, -8, 16])
        return (relative.to(dtype if integer_dtype(dtype) else torch.int64).to(device),)

    def at_length(self, obj, config, conventions, length, device):
        query, key = torch.arange(length)[:, None], torch.arange(length)[None, :]
        return obj, ((key - query).to(device),)

    def check(self, out, obj, args, config, conventions, dtype, *, what):
        rel = _oracles_relative()
        half = 16 if config["bidirectional"] else 32  # the buckets of one direction, and the exact ones among them
        window = tolerances.t5_log_bucket_window(half, half // 2, 128)
        low, high = rel.t5_bucket_bounds(args[0].cpu(), config["bidirectional"], 32, 128, window)
        assert tuple(out.shape) == tuple(low.shape), f"{what}: shape {tuple(out.shape)}, expected {tuple(low.shape)}"
        got = out.detach().cpu().to(torch.int64)
        bad = (got < low) | (got > high)
        if bad.any():
            index = tuple(int(i) for i in bad.nonzero()[0])
            raise AssertionError(f"{what}: relative position {int(args[0].cpu()[index])} at {index} got bucket "
                                 f"{int(got[index])}, expected {int(low[index])}")

    def expected(self, obj, args, config, conventions):
        rel = _oracles_relative()
        return rel.t5_bucket_bounds(args[0].cpu(), config["bidirectional"], 32, 128)[0].to(F64)

    def atol(self, expected, args, dtype, config, conventions):
        return 0.0

    def dtype_ok(self, out, obj, args, dtype):
        return integer_dtype(out.dtype), "an integer dtype"

    def wrong_dtype_calls(self, obj, args, config, kind):
        if kind == "float":
            return [("float relative positions", lambda: obj(args[0].float()), ("float",))]
        return []


# -- sincos_2d ------------------------------------------------------------------------------------


class Sincos2D(Family):
    name = "sincos_2d"
    kind = "table"
    configs = ({"label": "3x4 grid", "height": 3, "width": 4, "dim": 16},)
    excluded = dict(_TABLE_EXCLUSIONS)
    position_axis = 0

    def make(self, factory, config, conventions, *, device=None, dtype=None):
        return TableCall(factory, (config["height"], config["width"], config["dim"]), device=device, dtype=dtype)

    def at_length(self, obj, config, conventions, length, device):
        return obj.resized(0, length), ()

    def run(self, obj, args):
        return obj()

    def expected(self, obj, args, config, conventions):
        height, width, dim = obj.args
        return _oracles_relative().sincos_2d(height, width, dim, 10000.0, conventions["sincos_2d.order"],
                                             conventions["sinusoidal.layout"], conventions["sinusoidal.frequencies"],
                                             conventions["sincos_2d.grid"])

    def atol(self, expected, args, dtype, config, conventions):
        return tolerances.angle_atol(dtype, max(config["height"], config["width"]) - 1)

    dtype_ok = SinusoidalEncoding.dtype_ok

    def precision_case(self, factory, conventions, *, device, dtype):
        if dtype != F32 and not _accepts(factory, "dtype"):
            raise Excluded("the factory takes no dtype= keyword: a table in a low precision is a cast of its float32 "
                           "table, rounded once")
        length = 2**15  # a grid of 2^15 rows and one column: the row coordinate reaches the tens of thousands
        return TableCall(factory, (length, 1, 8), device=device, dtype=dtype), (), torch.arange(length), {}


# -- interpolate_positions ------------------------------------------------------------------------


class InterpolatePositions(Family):
    name = "interpolate_positions"
    kind = "function"
    configs = ({"label": "5 -> 9 rows", "length": 5, "dim": 4, "new_len": 9},
               {"label": "6 -> 4 rows", "length": 6, "dim": 4, "new_len": 4})
    excluded = {
        "DEV-MOVE-01": NOT_A_MODULE, "DEV-CAST-01": NOT_A_MODULE, "DEV-STATE-01": NOT_A_MODULE,
        "DEV-PREC-01": "resamples a learned table: there are no angles", "DTYPE-ERR-01": "its only tensor is floating",
        "PURE-BATCH-01": "resamples one table: " + NO_BATCH, "SEQ-CALLS-01": STATELESS,
    }
    float_args = (0,)

    def make(self, factory, config, conventions, *, device=None, dtype=None):
        return factory

    def inputs(self, obj, config, *, seed=0, device="cpu", dtype=F32):
        return sts.randn((config["length"], config["dim"]), seed, dtype).to(device), config["new_len"]

    def at_length(self, obj, config, conventions, length, device):
        return obj, (sts.randn((length, config["dim"]), 0).to(device), 2 * length)

    def expected(self, obj, args, config, conventions):
        return _oracles_relative().interpolate(args[0].detach().cpu(), args[1])

    def atol(self, expected, args, dtype, config, conventions):
        # a coordinate, a weight, two products and a sum in the working dtype
        return tolerances.atol(dtype, operations=5, magnitude=_max(args[0]))

    def dtype_ok(self, out, obj, args, dtype):
        return out.dtype == args[0].dtype, f"the table's {args[0].dtype}"

    def wrong_dtype_calls(self, obj, args, config, kind):
        if kind == "int":
            return [("integer table", lambda: obj(args[0].round().long(), args[1]), ("int", "long"))]
        return []


# -- relative_shift -------------------------------------------------------------------------------


class RelativeShift(Family):
    name = "relative_shift"
    kind = "function"
    configs = ({"label": "q_len<k_len", "shape": (3, 2, 4, 6)}, {"label": "q_len=k_len", "shape": (3, 5, 5)})
    excluded = {
        "DEV-MOVE-01": NOT_A_MODULE, "DEV-CAST-01": NOT_A_MODULE, "DEV-STATE-01": NOT_A_MODULE,
        "DEV-PREC-01": "a re-indexing: no angles and no rounding",
        "DTYPE-ERR-01": "a re-indexing is defined for every dtype",
        "DTYPE-ERR-02": "a re-indexing is defined for every dtype",
        "SEQ-CALLS-01": STATELESS,
    }
    float_args = (0,)
    batch_args = (0,)

    def make(self, factory, config, conventions, *, device=None, dtype=None):
        return factory

    def inputs(self, obj, config, *, seed=0, device="cpu", dtype=F32):
        return (sts.randn(config["shape"], seed, dtype).to(device),)

    def at_length(self, obj, config, conventions, length, device):
        return obj, (sts.randn((3, length, length), 0).to(device),)

    def expected(self, obj, args, config, conventions):
        return _oracles_extra().relative_shift(args[0].detach().cpu().to(F64))

    def atol(self, expected, args, dtype, config, conventions):
        return 0.0  # a re-indexing: bits unchanged

    def comparable(self, out, expected, args, config, conventions):
        q_len, k_len = out.shape[-2:]
        band, _ = _oracles_extra().relative_shift_index(q_len, k_len)
        band = band.to(out.device)
        return out[..., band], expected[..., band.to(expected.device)]

    def dtype_ok(self, out, obj, args, dtype):
        return out.dtype == args[0].dtype, f"the scores' {args[0].dtype}"


# -- hybrid_positional ----------------------------------------------------------------------------


class HybridPositional(Family):
    name = "hybrid_positional"
    configs = ({"label": "S<max_len", "max_len": 6, "dim": 8, "seq": 4},
               {"label": "S=max_len", "max_len": 6, "dim": 8, "seq": 6},
               {"label": "S>max_len", "max_len": 6, "dim": 8, "seq": 9})
    excluded = {"DTYPE-ERR-01": "its only input is floating", "DTYPE-ERR-02": ADDITIVE}
    float_args = (0,)
    batch_args = (0,)

    def make(self, factory, config, conventions, *, device=None, dtype=None):
        return build(factory, config["max_len"], config["dim"], device=device, dtype=dtype).eval()

    def inputs(self, obj, config, *, seed=0, device="cpu", dtype=F32):
        return ((sts.randn((3, config["seq"], config["dim"]), seed) * LEARNED_INPUT_SCALE).to(dtype).to(device),)

    def expected(self, obj, args, config, conventions):
        x = args[0]
        table = _oracles_extra().hybrid_table(obj.weight.detach().cpu(), x.shape[1], conventions["hybrid.switch"],
                                              10000.0, conventions["sinusoidal.layout"],
                                              conventions["sinusoidal.frequencies"])
        return x.detach().cpu().to(F64) + table

    def atol(self, expected, args, dtype, config, conventions):
        seq = args[0].shape[1]
        learned = tolerances.atol(dtype, operations=2, magnitude=_max(expected) + _max(args[0]))
        if seq <= config.get("max_len", 0):
            return learned  # the learned rows only
        return tolerances.angle_atol(dtype, seq) + learned + tolerances.atol(dtype)  # sinusoidal entries of size 1

    dtype_ok = SinusoidalModule.dtype_ok

    def learned(self, obj, config, conventions):
        used = _oracles_extra().hybrid_learned_positions(config["max_len"], config["seq"], conventions["hybrid.switch"])
        return [("weight", obj.weight, [], used.numel() > 0)]

    def sequence_limits(self, config, conventions):
        return config["max_len"] + 6, 0

    def sequence_inputs(self, obj, config, conventions, *, length, offset, dtype, seed, device):
        return ((sts.randn((2, length, config["dim"]), seed) * LEARNED_INPUT_SCALE).to(dtype).to(device),)

    def precision_case(self, factory, conventions, *, device, dtype):
        length = 2**15  # past max_len = 8 from the first call: the sinusoidal table, computed after the cast
        module = build(factory, 8, 8, device=device).eval().to(dtype)
        return module, (torch.zeros(1, length, 8, dtype=dtype, device=device),), torch.arange(length), {}

    decodes = True

    def decoded(self, obj, args):
        return _growing_prefixes(self, obj, args)


# -- learned_2d -----------------------------------------------------------------------------------


class Learned2D(Family):
    name = "learned_2d"
    configs = ({"label": "full", "height": 3, "width": 4, "dim": 4, "factorized": False, "needs": "learned_2d.full"},
               {"label": "factorized", "height": 3, "width": 4, "dim": 4, "factorized": True,
                "needs": "learned_2d.factorized"})
    excluded = {"DEV-PREC-01": NO_ANGLES, "DTYPE-ERR-01": "its only input is floating", "DTYPE-ERR-02": ADDITIVE}
    float_args = (0,)
    batch_args = (0,)

    def make(self, factory, config, conventions, *, device=None, dtype=None):
        kwargs = {"factorized": True} if config["factorized"] else {}
        return build(factory, config["height"], config["width"], config["dim"], device=device, dtype=dtype,
                     **kwargs).eval()

    def inputs(self, obj, config, *, seed=0, device="cpu", dtype=F32):
        x = sts.randn((3, config["height"] * config["width"], config["dim"]), seed) * LEARNED_INPUT_SCALE
        return (x.to(dtype).to(device),)

    def _table(self, obj, config):
        if config["factorized"]:
            return _oracles_extra().factorized_table(obj.row_weight.detach().cpu(), obj.col_weight.detach().cpu())
        return obj.weight.detach().cpu().to(F64)

    def expected(self, obj, args, config, conventions):
        return args[0].detach().cpu().to(F64) + self._table(obj, config)

    def atol(self, expected, args, dtype, config, conventions):
        return tolerances.atol(dtype, operations=2, magnitude=_max(expected) + _max(args[0]))

    def dtype_ok(self, out, obj, args, dtype):
        own = module_dtype(obj)
        allowed = {args[0].dtype} | ({torch.promote_types(args[0].dtype, own)} if own is not None else set())
        return out.dtype in allowed, " or ".join(sorted(map(str, allowed)))

    def learned(self, obj, config, conventions):
        if config["factorized"]:
            return [("row_weight", obj.row_weight, [], True), ("col_weight", obj.col_weight, [], True)]
        return [("weight", obj.weight, [], True)]

    def sequence_limits(self, config, conventions):
        return 1, 0  # the grid is fixed: calls vary in dtype, mode and placement only

    def sequence_inputs(self, obj, config, conventions, *, length, offset, dtype, seed, device):
        return self.inputs(obj, config, seed=seed, device=device, dtype=dtype)


# -- tied_embedding -------------------------------------------------------------------------------


class TiedEmbedding(Family):
    name = "tied_embedding"
    configs = ({"label": "ids and hidden states", "vocab": 7, "dim": 4},)
    excluded = {"DEV-PREC-01": NO_ANGLES}
    float_args = (1,)
    int_args = (0,)
    batch_args = (0, 1)

    def make(self, factory, config, conventions, *, device=None, dtype=None):
        return build(factory, config["vocab"], config["dim"], device=device, dtype=dtype).eval()

    def inputs(self, obj, config, *, seed=0, device="cpu", dtype=F32):
        ids = sts.randint(0, config["vocab"], (3, 5), seed).to(device)
        return ids, sts.randn((3, 5, config["dim"]), seed + 1, dtype).to(device)

    def run(self, obj, args):
        """The logits of hidden states that add the embedded ids: both uses of the one weight."""
        ids, hidden = args
        return obj.project(obj.embed(ids) + hidden)

    def expected(self, obj, args, config, conventions):
        ids, hidden = args
        weight = obj.embed.weight.detach().cpu().to(F64)
        scale = oracles.token_scale(config["dim"], conventions["token_embedding.scale"])
        return (weight[ids.cpu()] * scale + hidden.detach().cpu().to(F64)) @ weight.T

    def atol(self, expected, args, dtype, config, conventions):
        weight = args[1]  # the hidden states bound the size of each product; dim terms summed
        magnitude = (_max(weight) + 1.0) * config["dim"]
        return tolerances.atol(dtype, operations=config["dim"] + 2, magnitude=magnitude)

    def dtype_ok(self, out, obj, args, dtype):
        return out.dtype == obj.embed.weight.dtype, f"the weight's {obj.embed.weight.dtype}"

    def wrong_dtype_calls(self, obj, args, config, kind):
        ids, hidden = args
        if kind == "float":
            return [("float ids", lambda: obj.embed(ids.float()), ("float",))]
        return [("integer hidden states", lambda: obj.project(hidden.round().long()), ("int", "long"))]

    def learned(self, obj, config, conventions):
        return [("embed.weight", obj.embed.weight, [], True)]

    def sequence_limits(self, config, conventions):
        return 8, 0

    def input_dtype(self, obj, dtype):
        return obj.embed.weight.dtype  # hidden states come in the model's dtype: h @ W.T needs one dtype

    def sequence_inputs(self, obj, config, conventions, *, length, offset, dtype, seed, device):
        ids = sts.randint(0, config["vocab"], (2, length), seed).to(device)
        return ids, sts.randn((2, length, config["dim"]), seed + 1, dtype).to(device)


REGISTRY = {
    family.name: family
    for family in (TokenEmbedding(), SinusoidalEncoding(), SinusoidalModule(), LearnedPositional(),
                   TransformerEmbedding(), Rope(), AlibiSlopes(), AlibiBias(), RelativePositionBucket(), Sincos2D(),
                   InterpolatePositions(), RelativeShift(), HybridPositional(), Learned2D(), TiedEmbedding())
}


def params(clause):
    """One pytest case per family, marked with its family (skipped as "not provided" when absent) and
    skipped with the registry's reason where the clause does not apply."""
    cases = []
    for name, family in REGISTRY.items():
        marks = [pytest.mark.embedspec_family(name)]
        reason = family.exclusion(clause)
        if reason:
            marks.append(pytest.mark.skip(reason=f"{clause} does not apply to {name}: {reason}"))
        cases.append(pytest.param(family, id=name, marks=marks))
    return cases


def over_families(function):
    """Parametrise a property over the registry by the clause id at the start of its docstring."""
    clause = clause_of(function)
    if clause is None:
        raise ValueError(f"{function.__name__}: no clause id at the start of the docstring")
    return pytest.mark.parametrize("family", params(clause))(function)


def factory_of(implementation, family):
    return implementation.factory(family.name)


def excluded_at_runtime(reason):
    pytest.skip(f"does not apply to this implementation: {reason}")

"""ALiBi mutants: slopes, signs, offsets, and the causal forms of BLOOM and MPT."""

import math

import torch

from .catalogue import mutant, variant

SPEC = "spec/test_alibi.py"


def power_of_two(n, first=1):  # 2^(-8k/n) for k = first .. first + n - 1
    return [2 ** (-8 * k / n) for k in range(first, first + n)]


def slopes_list(n, *, rule="paper", first=1, sign=1):
    """The paper's rule with one knob per mutant."""
    if rule == "bit_trick" and n & (n - 1) == 0:  # n a power of two, tested with a bit trick that 0 also passes
        return (2.0 ** (-8.0 * torch.arange(1, n + 1) / n)).tolist()
    if math.log2(n).is_integer():
        slopes = power_of_two(n, first)
    elif rule == "next_power":  # every head count rounded up to a power of two, then truncated
        slopes = power_of_two(2 ** math.ceil(math.log2(n)), first)[:n]
    else:
        closest = 2 ** math.floor(math.log2(n))
        start = 1 if rule == "odd_from_second" else 0
        slopes = power_of_two(closest, first) + slopes_list(2 * closest, first=first)[start::2][: n - closest]
    return [s ** sign for s in slopes]


def slopes(**knobs):
    def alibi_slopes(num_heads):
        if num_heads <= 0 and knobs.get("check", True):
            raise ValueError(f"num_heads must be positive, got {num_heads}")
        rule_knobs = {k: v for k, v in knobs.items() if k not in ("order", "check", "squeeze")}
        values = torch.tensor(slopes_list(num_heads, **rule_knobs), dtype=torch.float32)
        if knobs.get("squeeze"):  # built as a (num_heads, 1) column, squeezed
            values = values[:, None].squeeze()
        return values.flip(0) if knobs.get("order") == "ascending" else values
    return alibi_slopes


def bias(form="symmetric", offset=True, **knobs):
    """(H, q_len, k_len) in one of the published forms, with the slopes' knobs."""
    slope_of = slopes(**knobs)

    def alibi_bias(num_heads, q_len, k_len):
        m = slope_of(num_heads)[:, None, None]  # (H, 1, 1)
        query = torch.arange(k_len - q_len, k_len) if offset else torch.arange(q_len)  # (q_len,)
        key = torch.arange(k_len)
        if form == "symmetric":
            return -m * (query[:, None] - key[None, :]).abs()
        if form == "no_abs":
            return -m * (query[:, None] - key[None, :])
        if form == "bloom":  # slope * arange(k_len) per key: -m (i - j) + m i
            return (m * key).expand(num_heads, q_len, k_len)
        if form == "bloom_negated":
            return (-m * key).expand(num_heads, q_len, k_len)
        if form == "mpt":  # slope * (j - (k_len - 1)): -m (i - j) up to a per-row constant
            return (m * (key - (k_len - 1))).expand(num_heads, q_len, k_len)
        raise ValueError(form)
    return alibi_bias


def family(**knobs):
    form = knobs.pop("form", "symmetric")
    offset = knobs.pop("offset", True)
    return dict(alibi_slopes=slopes(**knobs), alibi_bias=bias(form, offset, **knobs))


@mutant(catches={"ALIBI-SLOPE-02", "ALIBI-VAL-01"}, spec=SPEC)
def six_heads_as_eight():
    """A head count that is not a power of two gets the first n slopes of the next power of two (6 heads: 2^-1 .. 2^-6)."""
    return family(rule="next_power")


@mutant(catches={"ALIBI-SLOPE-02", "ALIBI-VAL-01"}, spec=SPEC)
def interleaved_slopes_from_second():
    """The extra heads take the even-indexed slopes of 2p heads ([1::2]) instead of every other one from the first."""
    return family(rule="odd_from_second")


@mutant(catches={"ALIBI-SLOPE-01", "ALIBI-SLOPE-02", "ALIBI-VAL-01"}, spec=SPEC)
def slopes_reversed():
    """The slopes are listed smallest first (sorted ascending), so head 0 gets the gentlest slope."""
    return family(order="ascending")


@mutant(catches={"ALIBI-SLOPE-01", "ALIBI-SLOPE-02", "ALIBI-VAL-01", "ALIBI-EDGE-01", "ALIBI-EDGE-02"}, spec=SPEC)
def slope_exponent_from_zero():
    """2^(-8h/n) for h = 0..n-1 instead of h = 1..n: head 0 gets slope 1 (a real off-by-one in ports of the paper's code)."""
    return family(first=0)


@mutant(catches={"ALIBI-SLOPE-01", "ALIBI-SLOPE-02", "ALIBI-SLOPE-03", "ALIBI-VAL-01", "ALIBI-EDGE-01",
                 "ALIBI-EDGE-02"}, spec=SPEC)
def slope_exponent_sign():
    """2^(+8k/n) (the reciprocal slopes, 2 to 256): far outside (0, 1], a penalty that drowns the scores."""
    return family(sign=-1)


@mutant(catches={"ALIBI-VAL-01", "ALIBI-DIAG-01", "ALIBI-EDGE-02"}, spec=SPEC)
def symmetric_without_abs():
    """-m (i - j) declared symmetric: keys after the query get a positive bias that grows with distance."""
    return family(form="no_abs")


@mutant(catches={"ALIBI-VAL-01", "ALIBI-DIAG-01", "ALIBI-REL-01", "ALIBI-EDGE-02"}, spec=SPEC)
def query_offset_ignored():
    """With q_len < k_len, query row r is placed at position r instead of k_len - q_len + r (a decoding step at 0)."""
    return family(offset=False)


@mutant(catches={"ALIBI-VAL-01", "ALIBI-DIAG-01", "ALIBI-EDGE-02"}, spec=SPEC, conventions={"alibi.mode": "causal"})
def causal_bias_negated():
    """BLOOM's form with the sign lost: -m * j favours the first keys, the farthest from the query."""
    return family(form="bloom_negated")


@mutant(catches={"ALIBI-VAL-01", "ALIBI-DIAG-01", "ALIBI-REL-01", "ALIBI-EDGE-02"}, spec=SPEC,
         conventions={"alibi.mode": "symmetric"})
def declares_symmetric_builds_bloom():
    """Declares the symmetric form but returns BLOOM's m * j, which is right only under a causal mask."""
    return family(form="bloom")


@variant(spec=SPEC, conventions={"alibi.mode": "causal"})
def bloom_causal():
    """Correct: BLOOM's slope * arange(k_len) per key, equal to -m (i - j) up to a per-row constant, declared causal."""
    return family(form="bloom")


@variant(spec=SPEC, conventions={"alibi.mode": "causal"})
def mpt_causal():
    """Correct: MPT's slope * (j - (k_len - 1)), declared causal."""
    return family(form="mpt")


@variant(spec=SPEC, conventions={"alibi.mode": "causal"})
def symmetric_form_declared_causal():
    """Correct: the symmetric form is also a causal one (its entries j <= i are -m (i - j))."""
    return family()


@mutant(catches="ALIBI-ERR-01", spec=SPEC)
def paper_slopes_without_a_guard():
    """The paper's get_slopes called as published, with no check of the head count: 0 heads fails inside
    math.log2 with "math domain error", which names nothing."""
    return dict(alibi_slopes=lambda num_heads: torch.tensor(slopes_list(num_heads)))


@mutant(catches={"ALIBI-ERR-01", "ALIBI-REFUSE-01"}, spec=SPEC)
def zero_heads_pass_the_power_of_two_test():
    """n is tested for a power of two with n & (n - 1) == 0, which 0 passes: zero heads get an empty slope tensor,
    silently (negative counts fail in math.log2 with "math domain error")."""
    return dict(alibi_slopes=slopes(rule="bit_trick", check=False))


@mutant(catches={"ALIBI-EDGE-01", "ALIBI-EDGE-02"}, spec=SPEC)
def single_slope_squeezed():
    """The slopes are built as a (num_heads, 1) column and squeezed: one head gives a 0-d tensor, not shape (1,), and
    the bias, which indexes the slopes as slopes[:, None, None], fails for one head. Both are edges: every clause
    at two heads or more passes."""
    return family(squeeze=True)

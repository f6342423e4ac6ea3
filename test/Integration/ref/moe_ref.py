#!/usr/bin/env python3
"""Independent NumPy reference for the `moe` dialect (contract v1).

This file implements the semantics written in shared/spec/moe-dialect.md in
plain NumPy, *without* looking at the project's C++ lowering, and uses them to
generate self-contained MLIR test programs and to check what those programs
print when they are run.

Subcommands::

    moe_ref.py list                 case names, one per line
    moe_ref.py gen CASE             the MLIR program of CASE on stdout
    moe_ref.py gen-all DIR          writes DIR/CASE.mlir for every case
    moe_ref.py check CASE FILE      compares FILE (the program's printed
                                    output, '-' for stdin) with the reference;
                                    exit 0 when everything matches, 1 otherwise
    moe_ref.py selftest             checks the reference itself on small
                                    hand-computed examples
    moe_ref.py margins              reports, per case, the smallest non-zero
                                    relative gap between keys whose order
                                    decides a top-K choice (near-ties would
                                    make an index comparison fragile)

Typical use (CPU)::

    moe_ref.py gen topk_dsv3_chain_dynamic > p.mlir
    moe-opt p.mlir --moe-lower-to-cpu | mlir-runner -e main \\
        --entry-point-result=void --shared-libs=... > out.txt
    moe_ref.py check topk_dsv3_chain_dynamic out.txt

Only python3 and numpy are needed.
"""

import os
import re
import sys

try:
    import numpy as np
except ImportError:  # pragma: no cover - depends on the machine
    # A pyenv/venv python3 first on PATH may lack numpy while Debian's
    # python3-numpy is installed for /usr/bin/python3: use that one.
    _SYS_PY = "/usr/bin/python3"
    if (os.path.exists(_SYS_PY) and not os.environ.get("MOE_REF_REEXEC")
            and os.path.realpath(sys.executable) != os.path.realpath(_SYS_PY)):
        os.environ["MOE_REF_REEXEC"] = "1"
        os.execv(_SYS_PY, [_SYS_PY] + sys.argv)
    sys.exit("moe_ref.py needs numpy (Debian: apt-get install python3-numpy)")

F32 = np.float32
NEG_INF = F32(-np.inf)

# ---------------------------------------------------------------------------
# Floating-point formats
# ---------------------------------------------------------------------------


def bf16_bits(x):
    """Bit patterns (uint16) of float32 values rounded to bfloat16 (RNE).

    NaN becomes the quiet NaN 0x7FC0 with the sign of the input.
    """
    x = np.asarray(x, dtype=F32)
    b = x.view(np.uint32).astype(np.uint64)
    rounded = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) & 0xFFFF
    nan_bits = ((b >> 16) & 0x8000) | 0x7FC0
    return np.where(np.isnan(x), nan_bits, rounded).astype(np.uint16)


def bf16_to_f32(bits):
    """float32 values of bfloat16 bit patterns (exact)."""
    bits = np.asarray(bits, dtype=np.uint16)
    return (bits.astype(np.uint32) << 16).view(F32)


def f16_bits(x):
    """Bit patterns (uint16) of float32 values rounded to IEEE half (RNE)."""
    with np.errstate(over="ignore"):
        return np.asarray(x, dtype=F32).astype(np.float16).view(np.uint16)


def round_to(x, elem):
    """float32 array holding `x` rounded to the float type `elem`.

    This is exactly the value a program holds after storing `x` in a tensor
    of element type `elem` (bf16/f16 round to nearest even).
    """
    x = np.asarray(x, dtype=F32)
    if elem == "f32":
        return x.copy()
    if elem == "bf16":
        return bf16_to_f32(bf16_bits(x))
    if elem == "f16":
        with np.errstate(over="ignore"):
            return x.astype(np.float16).astype(F32)
    raise ValueError("not a float type: %s" % elem)


# ---------------------------------------------------------------------------
# Reference semantics (spec: "All routing math is done in f32")
# ---------------------------------------------------------------------------


def ref_score(x, fn):
    """moe.score: router logits (already rounded to their type) -> f32 scores.

    sigmoid: 1 / (1 + exp(-x)); softmax over the last dim as
    exp(x - rowmax) / sum; sqrtsoftplus: sqrt(log(1 + exp(x))) in the
    overflow-safe form sqrt(max(x, 0) + log1p(exp(-|x|))).
    """
    x = np.asarray(x, dtype=F32)
    one = F32(1)
    with np.errstate(all="ignore"):
        if fn == "sigmoid":
            return (one / (one + np.exp(-x))).astype(F32)
        if fn == "softmax":
            m = np.max(x, axis=-1, keepdims=True)
            e = np.exp(x - m).astype(F32)
            return (e / np.sum(e, axis=-1, keepdims=True, dtype=F32)).astype(F32)
        if fn == "sqrtsoftplus":
            sp = np.maximum(x, F32(0)) + np.log1p(np.exp(-np.abs(x)))
            return np.sqrt(sp.astype(F32)).astype(F32)
    raise ValueError("unknown score function %r" % fn)


def rank_order(keys):
    """Positions of the 1-D `keys` from best to worst.

    Larger key first; equal keys: lower position first; NaN below every
    number (-inf included), NaNs among themselves by position.
    """
    keys = np.asarray(keys, dtype=np.float64)
    nan = np.isnan(keys)
    neg = -np.where(nan, 0.0, keys)
    pos = np.arange(keys.shape[0])
    # lexsort: the last key is the primary one.
    return np.lexsort((pos, neg, nan))


class MarginRecorder:
    """Collects the smallest non-zero relative gap between keys whose order
    decides a top-K result (see the `margins` subcommand)."""

    def __init__(self):
        self.active = False
        self.min_gap = None
        self.where = None

    def note(self, a, b, what):
        """Records the relative gap between two consecutive ranked keys."""
        if not self.active:
            return
        a, b = float(a), float(b)
        if not (np.isfinite(a) and np.isfinite(b)) or a == b:
            return
        gap = abs(a - b) / max(abs(a), abs(b), 1e-30)
        if self.min_gap is None or gap < self.min_gap:
            self.min_gap, self.where = gap, what


MARGINS = MarginRecorder()


def group_score(keys, group_top):
    """Sum (in f32, largest first) of the `group_top` largest keys of a group,
    NaN keys counted as -inf. The sum may be NaN (+inf + -inf)."""
    k = np.where(np.isnan(keys), NEG_INF, np.asarray(keys, dtype=F32))
    top = np.sort(k)[::-1][:group_top]
    acc = F32(top[0])
    with np.errstate(all="ignore"):
        for v in top[1:]:
            acc = F32(acc + F32(v))
    return acc


def topk_defaults(E, num_groups=1, topk_groups=None, group_top=None):
    """Resolves the defaults of moe.topk's group attributes."""
    if topk_groups is None:
        topk_groups = num_groups
    if group_top is None:
        group_top = 1 if E // num_groups == 1 else 2
    return topk_groups, group_top


def ref_topk(s, bias, k, num_groups=1, topk_groups=None, group_top=None):
    """moe.topk. Returns (weights f32 [T, k], indices int64 [T, k]).

    key = s + bias (f32). With num_groups > 1 only the experts of the
    `topk_groups` best groups (group score: see group_score) compete; the K
    best keys among them are chosen in rank order; weight = unbiased s.
    """
    s = np.asarray(s, dtype=F32)
    T, E = s.shape
    G = num_groups
    assert E % G == 0
    per = E // G
    topk_groups, group_top = topk_defaults(E, G, topk_groups, group_top)
    assert 1 <= group_top <= per and 1 <= topk_groups <= G
    assert 1 <= k <= topk_groups * per
    with np.errstate(all="ignore"):
        keys = s if bias is None else (s + np.asarray(bias, dtype=F32)).astype(F32)
    idx = np.zeros((T, k), dtype=np.int64)
    for t in range(T):
        key = keys[t]
        if G > 1:
            gs = np.array([group_score(key[g * per:(g + 1) * per], group_top)
                           for g in range(G)], dtype=F32)
            gorder = rank_order(gs)
            if topk_groups < G:
                MARGINS.note(gs[gorder[topk_groups - 1]], gs[gorder[topk_groups]],
                             "token %d group boundary" % t)
            kept = np.sort(gorder[:topk_groups])
            cand = np.concatenate([np.arange(g * per, (g + 1) * per) for g in kept])
        else:
            cand = np.arange(E)
        order = cand[rank_order(key[cand])]
        for j in range(min(k, len(order) - 1)):
            MARGINS.note(key[order[j]], key[order[j + 1]], "token %d rank %d" % (t, j))
        idx[t] = order[:k]
    w = np.take_along_axis(s, idx, axis=1).astype(F32)
    return w, idx


def ref_normalize(w, scale=1.0):
    """moe.normalize: scale * w / sum_j w per row; a row summing to 0 stays 0."""
    w = np.asarray(w, dtype=F32)
    with np.errstate(all="ignore"):
        tot = np.zeros(w.shape[0], dtype=F32)
        for j in range(w.shape[1]):
            tot = (tot + w[:, j]).astype(F32)
        out = (F32(scale) * w / tot[:, None]).astype(F32)
    out[tot == 0] = 0
    return out


def ref_load(idx, E, mask=None):
    """moe.load: per-expert count of pairs (t, j) with idx in [0, E) and
    mask[t] true. Returns int64 counts [E]."""
    idx = np.asarray(idx, dtype=np.int64)
    valid = (idx >= 0) & (idx < E)
    if mask is not None:
        valid &= np.asarray(mask, dtype=bool)[:, None]
    return np.bincount(idx[valid], minlength=E).astype(np.int64)


def _row_mean_f32(c):
    """mean = sum(c) / E in f32 (integer sums are exact, then converted)."""
    E = c.shape[-1]
    if np.issubdtype(c.dtype, np.integer):
        tot = F32(int(np.sum(c.astype(object))))
    else:
        tot = F32(0)
        for v in c:
            tot = F32(tot + F32(v))
    return F32(tot / F32(E)), tot


def ref_update_bias(bias, c, rule, rate, center=False):
    """moe.update_bias (sign or linear rule, optional centring), per row."""
    bias = np.asarray(bias, dtype=F32)
    c = np.asarray(c)
    E = bias.shape[-1]
    rate = F32(rate)
    out = np.empty_like(bias).reshape(-1, E)
    for r, (b, cr) in enumerate(zip(bias.reshape(-1, E), c.reshape(-1, E))):
        mean, _ = _row_mean_f32(cr)
        err = (mean - cr.astype(F32)).astype(F32)
        if rule == "sign":
            delta = (rate * np.sign(err).astype(F32)).astype(F32)
        elif rule == "linear":
            delta = (rate * err).astype(F32)
        else:
            raise ValueError(rule)
        if center:
            dsum = F32(0)
            for v in delta:
                dsum = F32(dsum + v)
            delta = (delta - F32(dsum / F32(E))).astype(F32)
        out[r] = (b + delta).astype(F32)
    return out.reshape(bias.shape)


def ref_imbalance(c):
    """moe.imbalance (MaxVio): (max c - mean) / mean; 0 when sum(c) == 0."""
    c = np.asarray(c)
    mean, tot = _row_mean_f32(c.reshape(-1))
    if tot == 0:
        return F32(0)
    return F32(F32(F32(np.max(c)) - mean) / mean)


def _roundup(n, b):
    return (n + b - 1) // b * b


def ref_dispatch(idx, E, block=1, capacity=None):
    """moe.dispatch. Returns (offsets [E+1], token_ids [P], slots [T, K]),
    all int64.

    Valid pairs grouped by expert in ascending (t, j); with a capacity C only
    the first C pairs of an expert are kept; each segment padded to a multiple
    of `block`; padding rows and rows past offsets[E] hold -1.
    """
    idx = np.asarray(idx, dtype=np.int64)
    T, K = idx.shape
    pairs = [[] for _ in range(E)]
    for t in range(T):
        for j in range(K):
            e = idx[t, j]
            if 0 <= e < E:
                pairs[e].append((t, j))
    if capacity is not None:
        pairs = [p[:capacity] for p in pairs]
        P = E * _roundup(capacity, block)
    else:
        P = T * K + E * (block - 1)
    offsets = np.zeros(E + 1, dtype=np.int64)
    for e in range(E):
        offsets[e + 1] = offsets[e] + _roundup(len(pairs[e]), block)
    token_ids = np.full(P, -1, dtype=np.int64)
    slots = np.full((T, K), -1, dtype=np.int64)
    for e in range(E):
        for r, (t, j) in enumerate(pairs[e]):
            row = offsets[e] + r
            token_ids[row] = t
            slots[t, j] = row
    return offsets, token_ids, slots


def ref_permute(x, token_ids):
    """moe.permute: xg[p] = x[token_ids[p]], zero rows where the id is -1."""
    x = np.asarray(x, dtype=F32)
    xg = np.zeros((len(token_ids), x.shape[1]), dtype=F32)
    for p, t in enumerate(token_ids):
        if t != -1:
            xg[p] = x[t]
    return xg


def ref_combine(yg, wn, slots, out_elem="f32"):
    """moe.combine: y[t] = sum_j wn[t, j] * yg[slots[t, j]] over slots != -1,
    accumulated in f32 (j ascending), rounded to `out_elem` at the end."""
    yg = np.asarray(yg, dtype=F32)
    wn = np.asarray(wn, dtype=F32)
    T, K = slots.shape
    y = np.zeros((T, yg.shape[1]), dtype=F32)
    with np.errstate(all="ignore"):
        for t in range(T):
            for j in range(K):
                p = slots[t, j]
                if p != -1:
                    y[t] = (y[t] + (wn[t, j] * yg[p]).astype(F32)).astype(F32)
    return round_to(y, out_elem)


def ref_route(x, fn, bias, k, num_groups=1, topk_groups=None, group_top=None,
              normalize=False, scale=1.0):
    """moe.route = score -> topk -> (normalize{scale} | w * scale) -> load."""
    s = ref_score(x, fn)
    w, i = ref_topk(s, bias, k, num_groups, topk_groups, group_top)
    if normalize:
        w = ref_normalize(w, scale)
    else:
        w = (w * F32(scale)).astype(F32)
    return w, i, ref_load(i, s.shape[1])


# ---------------------------------------------------------------------------
# MLIR emission
# ---------------------------------------------------------------------------

INT_ELEMS = ("i1", "i32", "i64")
FLOAT_ELEMS = ("f32", "bf16", "f16")


def fmt_f32(v):
    """An f32 value as an MLIR literal that parses back to exactly it."""
    v = F32(v)
    if np.isnan(v):
        return "0x7FC00000"
    if np.isinf(v):
        return "0x7F800000" if v > 0 else "0xFF800000"
    s = repr(float(v))  # shortest decimal of the exact double: exact in f32
    mant, _, exp = s.partition("e")
    if "." not in mant:
        mant += ".0"
    return mant + ("e" + exp if exp else "")


def fmt_elem(v, elem):
    """One dense element literal of type `elem`."""
    if elem == "f32":
        return fmt_f32(v)
    if elem == "bf16":
        return "0x%04X" % int(bf16_bits(np.array([v], dtype=F32))[0])
    if elem == "f16":
        return "0x%04X" % int(f16_bits(np.array([v], dtype=F32))[0])
    if elem == "i1":
        return "true" if v else "false"
    return str(int(v))


def fmt_dense(a, elem):
    """`dense<...>` body for an array of rank 1 or 2."""
    a = np.asarray(a)
    if a.ndim == 1:
        return "[" + ", ".join(fmt_elem(v, elem) for v in a) + "]"
    rows = ["[" + ", ".join(fmt_elem(v, elem) for v in r) + "]" for r in a]
    return "[" + ",\n      ".join(rows) + "]"


class Val:
    """An SSA value of the kernel with its reference value.

    shape: the concrete shape; dyn: the leading dimension is `?` in the
    kernel's types; elem: element type; scalar: an f32 scalar, not a tensor.
    """

    def __init__(self, name, value, elem, dyn=False, scalar=False):
        self.name = name
        self.value = value
        self.elem = elem
        self.dyn = dyn
        self.scalar = scalar
        self.shape = () if scalar else tuple(np.shape(value))
        self.topk_experts = None  # E, for the indices of a top-K

    def dims(self, static=False):
        d = [str(n) for n in self.shape]
        if self.dyn and not static:
            d[0] = "?"
        return d

    def type(self, static=False, kind="tensor"):
        """The kernel-facing type (static=True: the concrete one)."""
        if self.scalar:
            return self.elem
        return "%s<%s>" % (kind, "x".join(self.dims(static) + [self.elem]))


def _attrs(**kw):
    """An attribute dictionary; None values are left out (defaults), True is
    a unit attribute, floats are f32."""
    parts = []
    for key, v in kw.items():
        if v is None or v is False:
            continue
        if v is True:
            parts.append(key)
        elif isinstance(v, float):
            parts.append("%s = %s : f32" % (key, fmt_f32(v)))
        else:
            parts.append("%s = %d" % (key, v))
    return " {" + ", ".join(parts) + "}" if parts else ""


class Kernel:
    """Builds the `@kernel` function of a case and, in lockstep, the reference
    value of every value it defines."""

    def __init__(self, name, doc):
        self.name = name
        self.doc = doc
        self.args = []
        self.lines = []
        self.results = []
        self._n = 0

    def _fresh(self, hint):
        self._n += 1
        return "%%%s%d" % (hint, self._n)

    # -- arguments and results ------------------------------------------------
    def arg(self, name, value, elem, dyn=False):
        """A kernel argument; float values are rounded to `elem` first."""
        if elem in FLOAT_ELEMS:
            value = round_to(value, elem)
        elif elem == "i1":
            value = np.asarray(value, dtype=bool)
        else:
            value = np.asarray(value, dtype=np.int64)
        v = Val("%" + name, value, elem, dyn)
        self.args.append(v)
        return v

    def ret(self, *vals):
        self.results.extend(vals)

    # -- ops ------------------------------------------------------------------
    def score(self, fn, x):
        r = Val(self._fresh("s"), ref_score(x.value, fn), "f32", x.dyn)
        self.lines.append("%s = moe.score %s %s : %s -> %s"
                          % (r.name, fn, x.name, x.type(), r.type()))
        return r

    def topk(self, s, bias, k, idx="i32", num_groups=None, topk_groups=None,
             group_top=None):
        w, i = ref_topk(s.value, None if bias is None else bias.value, k,
                        num_groups or 1, topk_groups, group_top)
        wv = Val(self._fresh("w"), w, "f32", s.dyn)
        iv = Val(self._fresh("i"), i, idx, s.dyn)
        iv.topk_experts = s.shape[1]
        b = "" if bias is None else " bias(%s)" % bias.name
        bt = "" if bias is None else ", " + bias.type()
        at = _attrs(k=k, num_groups=num_groups, topk_groups=topk_groups,
                    group_top=group_top)
        self.lines.append("%s, %s = moe.topk %s%s%s : %s%s -> %s, %s"
                          % (wv.name, iv.name, s.name, b, at, s.type(), bt,
                             wv.type(), iv.type()))
        return wv, iv

    def normalize(self, w, scale=None):
        r = Val(self._fresh("wn"), ref_normalize(w.value, 1.0 if scale is None else scale),
                "f32", w.dyn)
        self.lines.append("%s = moe.normalize %s%s : %s"
                          % (r.name, w.name, _attrs(scale=scale), w.type()))
        return r

    def load(self, i, E, cnt="i32", mask=None):
        c = ref_load(i.value, E, None if mask is None else mask.value)
        r = Val(self._fresh("c"), c, cnt)
        if mask is None:
            self.lines.append("%s = moe.load %s%s : %s -> %s"
                              % (r.name, i.name, _attrs(num_experts=E), i.type(), r.type()))
        else:
            self.lines.append("%s = moe.load %s mask(%s)%s : %s, %s -> %s"
                              % (r.name, i.name, mask.name, _attrs(num_experts=E),
                                 i.type(), mask.type(), r.type()))
        return r

    def route(self, fn, x, bias, k, idx="i32", cnt="i32", num_groups=None,
              topk_groups=None, group_top=None, normalize=False, scale=None):
        E = x.shape[1]
        w, i, c = ref_route(x.value, fn, None if bias is None else bias.value, k,
                            num_groups or 1, topk_groups, group_top, normalize,
                            1.0 if scale is None else scale)
        wv = Val(self._fresh("w"), w, "f32", x.dyn)
        iv = Val(self._fresh("i"), i, idx, x.dyn)
        iv.topk_experts = E
        cv = Val(self._fresh("c"), c, cnt)
        b = "" if bias is None else " bias(%s)" % bias.name
        bt = "" if bias is None else ", " + bias.type()
        at = _attrs(k=k, num_groups=num_groups, topk_groups=topk_groups,
                    group_top=group_top, normalize=normalize, scale=scale)
        self.lines.append("%s, %s, %s = moe.route %s %s%s%s\n      : %s%s -> %s, %s, %s"
                          % (wv.name, iv.name, cv.name, fn, x.name, b, at,
                             x.type(), bt, wv.type(), iv.type(), cv.type()))
        assert E == cv.shape[0]
        return wv, iv, cv

    def update_bias(self, rule, b, c, rate, center=False):
        r = Val(self._fresh("nb"), ref_update_bias(b.value, c.value, rule, rate, center), "f32")
        self.lines.append("%s = moe.update_bias %s %s, %s%s : %s, %s"
                          % (r.name, rule, b.name, c.name,
                             _attrs(rate=float(rate), center=center), b.type(), c.type()))
        return r

    def imbalance(self, c):
        r = Val(self._fresh("v"), ref_imbalance(c.value), "f32", scalar=True)
        self.lines.append("%s = moe.imbalance %s : %s -> f32" % (r.name, c.name, c.type()))
        return r

    def dispatch(self, i, E, block=None, capacity=None, out="i32"):
        o, t, s = ref_dispatch(i.value, E, block or 1, capacity)
        ov = Val(self._fresh("off"), o, out)
        tv = Val(self._fresh("tok"), t, out, dyn=i.dyn and capacity is None)
        sv = Val(self._fresh("slot"), s, out, i.dyn)
        self.lines.append("%s, %s, %s = moe.dispatch %s%s : %s -> %s, %s, %s"
                          % (ov.name, tv.name, sv.name, i.name,
                             _attrs(num_experts=E, block=block, capacity=capacity),
                             i.type(), ov.type(), tv.type(), sv.type()))
        return ov, tv, sv

    def permute(self, x, ids):
        r = Val(self._fresh("xg"), ref_permute(x.value, ids.value), x.elem, ids.dyn)
        self.lines.append("%s = moe.permute %s, %s : %s, %s -> %s"
                          % (r.name, x.name, ids.name, x.type(), ids.type(), r.type()))
        return r

    def combine(self, yg, wn, slots):
        r = Val(self._fresh("y"), ref_combine(yg.value, wn.value, slots.value, yg.elem),
                yg.elem, wn.dyn)
        self.lines.append("%s = moe.combine %s, %s, %s : %s, %s, %s -> %s"
                          % (r.name, yg.name, wn.name, slots.name, yg.type(),
                             wn.type(), slots.type(), r.type()))
        return r

    # -- program ----------------------------------------------------------------
    def program(self):
        """The complete MLIR module (kernel + main printing every result)."""
        out = ["// Generated by test/Integration/ref/moe_ref.py gen %s" % self.name,
               "// " + self.doc,
               "module {",
               "  func.func private @printMemrefF32(memref<*xf32>)",
               "  func.func private @printMemrefI32(memref<*xi32>)",
               "  func.func private @printMemrefI64(memref<*xi64>)",
               ""]
        sig = ", ".join("%s: %s" % (a.name, a.type()) for a in self.args)
        rtys = ", ".join(r.type() for r in self.results)
        out.append("  func.func @kernel(%s) -> (%s) {" % (sig, rtys))
        out += ["    " + ln.replace("\n", "\n    ") for ln in self.lines]
        out.append("    return %s : %s" % (", ".join(r.name for r in self.results), rtys))
        out.append("  }")
        out.append("")
        out.append("  func.func @main() {")
        out.append("    %c0 = arith.constant 0 : index")
        call_args = []
        for a in self.args:
            cst = "%%cst_%s" % a.name[1:]
            out.append("    %s = arith.constant dense<%s>\n      : %s"
                       % (cst, fmt_dense(a.value, a.elem), a.type(static=True)))
            if a.dyn:
                out.append("    %s = tensor.cast %s : %s to %s"
                           % (a.name, cst, a.type(static=True), a.type()))
                call_args.append(a.name)
            else:
                call_args.append(cst)
        n = len(self.results)
        res = "%r" if n == 1 else "%%r:%d" % n
        out.append("    %s = call @kernel(%s) : (%s) -> (%s)"
                   % (res, ", ".join(call_args),
                      ", ".join(a.type() for a in self.args), rtys))
        for k, r in enumerate(self.results):
            out += ["    " + ln for ln in self._print_result(k, "%r" if n == 1 else "%%r#%d" % k, r)]
        out.append("    return")
        out.append("  }")
        out.append("}")
        return "\n".join(out) + "\n"

    @staticmethod
    def _print_result(k, ssa, r):
        """Lines that print result `r` (held in `ssa`) with printMemref*."""
        lines = []
        if r.scalar:
            lines.append("%%t%d = tensor.from_elements %s : tensor<1xf32>" % (k, ssa))
            ssa, ttype, mtype, fn = "%%t%d" % k, "tensor<1xf32>", "memref<1xf32>", "F32"
        elif r.elem in ("bf16", "f16"):
            f = Val("", r.value, "f32", r.dyn)
            ttype, mtype, fn = f.type(), f.type(kind="memref"), "F32"
            dyn_ops = ""
            if r.dyn:
                lines.append("%%d%d = tensor.dim %s, %%c0 : %s" % (k, ssa, r.type()))
                dyn_ops = "%%d%d" % k
            lines.append("%%e%d = tensor.empty(%s) : %s" % (k, dyn_ops, ttype))
            rank = len(r.shape)
            dims = ", ".join("d%d" % q for q in range(rank))
            amap = "affine_map<(%s) -> (%s)>" % (dims, dims)
            lines.append("%%x%d = linalg.generic {indexing_maps = [%s, %s], "
                         "iterator_types = [%s]} ins(%s : %s) outs(%%e%d : %s) {"
                         % (k, amap, amap, ", ".join(['"parallel"'] * rank), ssa,
                            r.type(), k, ttype))
            lines.append("^bb0(%%in: %s, %%out: f32):" % r.elem)
            lines.append("  %%v = arith.extf %%in : %s to f32" % r.elem)
            lines.append("  linalg.yield %v : f32")
            lines.append("} -> %s" % ttype)
            ssa = "%%x%d" % k
        else:
            ttype, mtype = r.type(), r.type(kind="memref")
            fn = {"f32": "F32", "i32": "I32", "i64": "I64"}[r.elem]
        utype = "memref<*x%s>" % fn.lower()
        lines.append("%%m%d = bufferization.to_buffer %s : %s to %s" % (k, ssa, ttype, mtype))
        lines.append("%%u%d = memref.cast %%m%d : %s to %s" % (k, k, mtype, utype))
        lines.append("call @printMemref%s(%%u%d) : (%s) -> ()" % (fn, k, utype))
        return lines


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------

CASES = {}


def case(func):
    """Registers a case builder; the case name is the function name."""
    CASES[func.__name__] = func
    return func


def rng_for(seed):
    return np.random.default_rng(seed)


def _logits(rng, T, E, sd=1.0):
    return rng.normal(0.0, sd, size=(T, E)).astype(F32)


def _dsv3_data():
    rng = rng_for(3)
    T, E = 133, 256
    return _logits(rng, T, E, 1.5), rng.normal(0.0, 0.1, size=E).astype(F32)


@case
def topk_dsv3_chain_dynamic():
    k = Kernel("topk_dsv3_chain_dynamic",
               "DeepSeek-V3 routing as the unfused chain score/topk/normalize/load, dynamic T")
    xv, bv = _dsv3_data()
    x = k.arg("x", xv, "f32", dyn=True)
    b = k.arg("b", bv, "f32")
    s = k.score("sigmoid", x)
    w, i = k.topk(s, b, 8, num_groups=8, topk_groups=4)
    wn = k.normalize(w, scale=2.5)
    c = k.load(i, 256)
    k.ret(wn, i, c)
    return k


@case
def route_dsv3_dynamic():
    k = Kernel("route_dsv3_dynamic",
               "DeepSeek-V3 routing as one moe.route (same data and values as topk_dsv3_chain_dynamic)")
    xv, bv = _dsv3_data()
    x = k.arg("x", xv, "f32", dyn=True)
    b = k.arg("b", bv, "f32")
    k.ret(*k.route("sigmoid", x, b, 8, num_groups=8, topk_groups=4, normalize=True, scale=2.5))
    return k


@case
def route_dsv3_bf16_dynamic():
    k = Kernel("route_dsv3_bf16_dynamic",
               "DeepSeek-V3 routing on bf16 logits (many exact ties after rounding), dynamic T")
    rng = rng_for(4)
    x = k.arg("x", _logits(rng, 97, 256, 2.0), "bf16", dyn=True)
    b = k.arg("b", rng.normal(0, 0.1, 256), "f32")
    k.ret(*k.route("sigmoid", x, b, 8, num_groups=8, topk_groups=4, normalize=True, scale=2.5))
    return k


@case
def topk_e96_g12_keep4_dynamic():
    k = Kernel("topk_e96_g12_keep4_dynamic",
               "E = 96 in 12 groups of 8, keep 4, top-6, bias, normalize (no scale), dynamic T")
    rng = rng_for(5)
    x = k.arg("x", _logits(rng, 160, 96), "f32", dyn=True)
    b = k.arg("b", rng.normal(0, 0.1, 96), "f32")
    s = k.score("sigmoid", x)
    w, i = k.topk(s, b, 6, num_groups=12, topk_groups=4)
    k.ret(k.normalize(w), i, k.load(i, 96))
    return k


@case
def route_e160_g5_keep2_dynamic():
    k = Kernel("route_e160_g5_keep2_dynamic",
               "E = 160 in 5 groups of 32, keep 2, top-8, sigmoid, bias, normalize, scale 2.5")
    rng = rng_for(6)
    x = k.arg("x", _logits(rng, 101, 160, 1.2), "f32", dyn=True)
    b = k.arg("b", rng.normal(0, 0.1, 160), "f32")
    k.ret(*k.route("sigmoid", x, b, 8, num_groups=5, topk_groups=2, normalize=True, scale=2.5))
    return k


@case
def route_e384_kimi_dynamic():
    k = Kernel("route_e384_kimi_dynamic",
               "Kimi-K2-like: E = 384, one group, top-8, sigmoid, bias, normalize, scale 2.827")
    rng = rng_for(46)
    x = k.arg("x", _logits(rng, 100, 384, 1.5), "f32", dyn=True)
    b = k.arg("b", rng.normal(0, 0.1, 384), "f32")
    k.ret(*k.route("sigmoid", x, b, 8, normalize=True, scale=2.827))
    return k


@case
def route_softmax_bias_scale_dynamic():
    k = Kernel("route_softmax_bias_scale_dynamic",
               "softmax scores with a bias, top-6 of 64, no normalize: weights * scale 1.5")
    rng = rng_for(8)
    x = k.arg("x", _logits(rng, 150, 64, 2.0), "f32", dyn=True)
    b = k.arg("b", rng.normal(0, 0.01, 64), "f32")
    k.ret(*k.route("softmax", x, b, 6, scale=1.5))
    return k


@case
def route_sqrtsoftplus_dynamic():
    k = Kernel("route_sqrtsoftplus_dynamic",
               "sqrtsoftplus scores, E = 128 in 8 groups keep 4, top-8, bias, normalize, scale 2.5")
    rng = rng_for(9)
    x = k.arg("x", _logits(rng, 120, 128, 1.5), "f32", dyn=True)
    b = k.arg("b", rng.normal(0, 0.1, 128), "f32")
    k.ret(*k.route("sqrtsoftplus", x, b, 8, num_groups=8, topk_groups=4,
                   normalize=True, scale=2.5))
    return k


SPECIAL_LOGITS = [-np.inf, -1e30, -100.0, -88.8, -30.0, -20.0, -5.0, -1.0, -1e-30,
                  -0.0, 0.0, 1e-30, 0.5, 1.0, 5.0, 20.0, 30.0, 88.8, 89.5, 100.0,
                  1e4, 1e30, np.inf, np.nan]


@case
def score_functions_static():
    k = Kernel("score_functions_static",
               "moe.score sigmoid/softmax/sqrtsoftplus on f32 (static 7x96), and "
               "sigmoid/sqrtsoftplus on special values (+-inf, NaN, overflow range)")
    rng = rng_for(10)
    x = k.arg("x", _logits(rng, 7, 96, 3.0), "f32")
    sp = k.arg("sp", np.array([SPECIAL_LOGITS], dtype=F32), "f32")
    k.ret(k.score("sigmoid", x), k.score("softmax", x), k.score("sqrtsoftplus", x),
          k.score("sigmoid", sp), k.score("sqrtsoftplus", sp))
    return k


@case
def score_f16_bf16_inputs():
    k = Kernel("score_f16_bf16_inputs",
               "moe.score on f16 (softmax, static 7x96) and bf16 (sigmoid, sqrtsoftplus, dynamic) logits")
    rng = rng_for(11)
    h = k.arg("h", _logits(rng, 7, 96, 3.0), "f16")
    bb = k.arg("bb", _logits(rng, 9, 40, 3.0), "bf16", dyn=True)
    k.ret(k.score("softmax", h), k.score("sigmoid", bb), k.score("sqrtsoftplus", bb))
    return k


@case
def topk_f16_logits_chain_dynamic():
    k = Kernel("topk_f16_logits_chain_dynamic",
               "f16 logits: sigmoid, E = 64 in 4 groups keep 2, top-4, bias, normalize 2.0, i32 load")
    rng = rng_for(12)
    x = k.arg("x", _logits(rng, 120, 64, 2.0), "f16", dyn=True)
    b = k.arg("b", rng.normal(0, 0.1, 64), "f32")
    s = k.score("sigmoid", x)
    w, i = k.topk(s, b, 4, num_groups=4, topk_groups=2)
    k.ret(k.normalize(w, 2.0), i, k.load(i, 64))
    return k


def _tie_scores(rng, T, E):
    """Scores built from a few dyadic values: many exact ties, exact sums."""
    vals = np.array([0.0, 0.25, 0.5, 0.75, 1.0], dtype=F32)
    s = vals[rng.integers(0, 3, size=(T, E)) + rng.integers(0, 3, size=(T, E)) // 2]
    s[0] = 0.5                       # every key equal
    s[1] = np.tile([0.25, 0.75], E // 2)
    s[2] = np.repeat(vals[:4], E // 4)[::-1]  # groups with equal inner values
    return s.astype(F32)


@case
def topk_exact_ties_dynamic():
    k = Kernel("topk_exact_ties_dynamic",
               "moe.topk on scores with many exact ties (dyadic values, exact sums): "
               "lower expert / group index wins; grouped and plain")
    rng = rng_for(13)
    T, E = 40, 32
    s = k.arg("s", _tie_scores(rng, T, E), "f32", dyn=True)
    b = k.arg("b", np.array([0.0, 0.25, 0.0, -0.25] * 8, dtype=F32), "f32")
    w1, i1 = k.topk(s, b, 4, num_groups=4, topk_groups=2)
    w2, i2 = k.topk(s, None, 5)
    w3, i3 = k.topk(s, b, 6, num_groups=8, topk_groups=3, group_top=3)
    k.ret(w1, i1, w2, i2, w3, i3)
    return k


@case
def route_exact_ties_sigmoid_dynamic():
    k = Kernel("route_exact_ties_sigmoid_dynamic",
               "sigmoid of duplicated logits (exactly equal scores), bias with repeated values, "
               "E = 32 in 4 groups keep 2, top-4, normalize 2.5")
    rng = rng_for(14)
    levels = np.array([-1.0, 0.0, 0.5, 2.0], dtype=F32)
    xv = levels[rng.integers(0, 4, size=(50, 32))]
    xv[0] = 0.5
    b = k.arg("b", np.array([0.0, 0.03125] * 16, dtype=F32), "f32")
    x = k.arg("x", xv, "f32", dyn=True)
    k.ret(*k.route("sigmoid", x, b, 4, num_groups=4, topk_groups=2, normalize=True, scale=2.5))
    return k


def _nan_inf_scores(rng, T, E):
    """f32 scores with NaN and +-inf in every arrangement that matters."""
    nan, inf = np.nan, np.inf
    s = rng.uniform(0, 1, size=(T, E)).astype(F32)
    s[0] = nan                                   # all NaN
    s[1] = -inf                                  # all -inf
    s[2] = inf                                   # all +inf
    s[3, :] = nan
    s[3, 5] = -inf                               # -inf beats NaN
    s[3, 14] = 0.1
    s[4, ::3] = nan                              # NaN mixed in
    s[5, 0], s[5, 1] = inf, -inf                 # group 0 sum: inf + -inf = NaN
    s[6, 4], s[6, 5] = inf, inf                  # group 1 sum +inf
    s[6, 8], s[6, 9] = inf, -inf                 # group 2 sum NaN
    s[7, :] = -inf
    s[7, 3], s[7, 7], s[7, 11] = nan, 0.2, nan
    s[8, 1::2] = inf                             # many +inf ties
    s[9, :8] = nan                               # two NaN groups
    for t in range(10, T):                       # random sprinkles
        m = rng.uniform(size=E)
        s[t, m < 0.15] = nan
        s[t, (m >= 0.15) & (m < 0.25)] = inf
        s[t, (m >= 0.25) & (m < 0.35)] = -inf
    return s


@case
def topk_nan_inf_scores_dynamic():
    k = Kernel("topk_nan_inf_scores_dynamic",
               "moe.topk on f32 scores with NaN and +-inf (all-NaN rows, NaN group sums): "
               "indices distinct and in range, NaN last")
    rng = rng_for(15)
    E = 16
    s = k.arg("s", _nan_inf_scores(rng, 24, E), "f32", dyn=True)
    b = k.arg("b", np.array([0.0, 0.5, -0.5, 0.25] * 4, dtype=F32), "f32")
    w1, i1 = k.topk(s, b, 4, num_groups=4, topk_groups=2)
    w2, i2 = k.topk(s, None, 6)
    w3, i3 = k.topk(s, b, 3, num_groups=4, topk_groups=3, group_top=1)
    k.ret(w1, i1, w2, i2, w3, i3, k.load(i1, E))
    return k


@case
def route_sigmoid_nan_inf_dynamic():
    k = Kernel("route_sigmoid_nan_inf_dynamic",
               "moe.route sigmoid on logits with NaN and +-inf (rows all NaN, all -inf -> "
               "weights 0 stay 0, +inf -> equal scores 1), E = 32 in 4 groups keep 2, normalize 2.5")
    rng = rng_for(16)
    E = 32
    xv = _logits(rng, 30, E, 1.5)
    nan, inf = np.nan, np.inf
    xv[0] = nan
    xv[1] = -inf
    xv[2] = inf
    xv[3, ::2] = inf
    xv[4, 3::4] = nan
    xv[5, :16] = -inf
    xv[6, :] = -inf
    xv[6, 20] = nan
    for t in range(7, 30):
        m = rng.uniform(size=E)
        xv[t, m < 0.1] = nan
        xv[t, (m >= 0.1) & (m < 0.2)] = inf
        xv[t, (m >= 0.2) & (m < 0.3)] = -inf
    x = k.arg("x", xv, "f32", dyn=True)
    b = k.arg("b", rng.normal(0, 0.1, E), "f32")
    k.ret(*k.route("sigmoid", x, b, 4, num_groups=4, topk_groups=2, normalize=True, scale=2.5))
    return k


@case
def topk_k1_and_k_equals_e_dynamic():
    k = Kernel("topk_k1_and_k_equals_e_dynamic",
               "K = 1 and K = E = 16 (a full sort), with and without groups, bias")
    rng = rng_for(17)
    E = 16
    s = k.arg("s", rng.uniform(0, 1, size=(30, E)), "f32", dyn=True)
    b = k.arg("b", rng.normal(0, 0.2, E), "f32")
    w1, i1 = k.topk(s, b, 1)
    w2, i2 = k.topk(s, b, E)
    w3, i3 = k.topk(s, b, E, num_groups=4, topk_groups=4)
    w4, i4 = k.topk(s, b, 1, num_groups=4, topk_groups=1)
    k.ret(w1, i1, w2, i2, w3, i3, w4, i4)
    return k


@case
def topk_no_bias_i64_dynamic():
    k = Kernel("topk_no_bias_i64_dynamic",
               "moe.topk without bias, E = 64 in 8 groups keep 3, top-6, i64 indices and i64 load")
    rng = rng_for(18)
    x = k.arg("x", _logits(rng, 110, 64), "f32", dyn=True)
    s = k.score("sigmoid", x)
    w, i = k.topk(s, None, 6, idx="i64", num_groups=8, topk_groups=3)
    k.ret(w, i, k.load(i, 64, cnt="i64"))
    return k


@case
def topk_group_top1_dynamic():
    k = Kernel("topk_group_top1_dynamic",
               "group_top = 1: E = 64 in 8 groups keep 3, top-4, bias")
    rng = rng_for(19)
    x = k.arg("x", _logits(rng, 90, 64), "f32", dyn=True)
    b = k.arg("b", rng.normal(0, 0.1, 64), "f32")
    s = k.score("sigmoid", x)
    w, i = k.topk(s, b, 4, num_groups=8, topk_groups=3, group_top=1)
    k.ret(w, i)
    return k


@case
def topk_group_top3_e160_i64_dynamic():
    k = Kernel("topk_group_top3_e160_i64_dynamic",
               "group_top = 3, sqrtsoftplus, E = 160 in 5 groups keep 2, top-6, no bias, "
               "i64 indices and load, imbalance")
    rng = rng_for(20)
    x = k.arg("x", _logits(rng, 90, 160, 1.5), "f32", dyn=True)
    s = k.score("sqrtsoftplus", x)
    w, i = k.topk(s, None, 6, idx="i64", num_groups=5, topk_groups=2, group_top=3)
    c = k.load(i, 160, cnt="i64")
    k.ret(w, i, c, k.imbalance(c))
    return k


@case
def topk_single_expert_groups_dynamic():
    k = Kernel("topk_single_expert_groups_dynamic",
               "E / num_groups = 1 (group_top defaults to 1): 16 groups keep 6, top-4, bias")
    rng = rng_for(42)
    x = k.arg("x", _logits(rng, 50, 16), "f32", dyn=True)
    b = k.arg("b", rng.normal(0, 0.1, 16), "f32")
    s = k.score("sigmoid", x)
    w, i = k.topk(s, b, 4, num_groups=16, topk_groups=6)
    k.ret(w, i)
    return k


@case
def route_no_bias_i64_static():
    k = Kernel("route_no_bias_i64_static",
               "moe.route without bias, static T = 32, E = 64, top-4, i64 indices and counts, "
               "no normalize and no scale")
    rng = rng_for(22)
    x = k.arg("x", _logits(rng, 32, 64), "f32")
    k.ret(*k.route("sigmoid", x, None, 4, idx="i64", cnt="i64"))
    return k


@case
def load_mask_invalid_dynamic():
    k = Kernel("load_mask_invalid_dynamic",
               "moe.load with a mask and with -1 / out-of-range indices (i32), i32 and i64 counts")
    rng = rng_for(23)
    E, T, K = 24, 60, 4
    iv = rng.integers(-3, E + 3, size=(T, K))
    iv[rng.uniform(size=(T, K)) < 0.1] = -1
    iv[0] = [-1, E, 1000, -2147483648]
    iv[1] = [2147483647, 0, E - 1, -1]
    i = k.arg("idx", iv, "i32", dyn=True)
    m = k.arg("mask", rng.uniform(size=T) < 0.7, "i1", dyn=True)
    k.ret(k.load(i, E, mask=m), k.load(i, E), k.load(i, E, cnt="i64", mask=m))
    return k


@case
def load_i64_static():
    k = Kernel("load_i64_static",
               "moe.load on i64 indices (incl. -1, E, +-2^40) without mask, i64 and i32 counts")
    rng = rng_for(24)
    E, T, K = 20, 40, 3
    iv = rng.integers(-1, E + 2, size=(T, K)).astype(np.int64)
    iv[0] = [1 << 40, -(1 << 40), E]
    iv[1] = [(1 << 32) + 3, 3, -1]     # not 3 after truncation to 32 bits
    i = k.arg("idx", iv, "i64")
    k.ret(k.load(i, E, cnt="i64"), k.load(i, E, cnt="i32"))
    return k


def _counts_with_mean_ties(rng, E, mean):
    """Counts whose mean is exactly `mean` and several of which equal it."""
    c = np.full(E, mean, dtype=np.int64)
    d = rng.integers(1, mean, size=E // 2)
    half = E // 4  # the first quarter stays exactly at the mean
    c[half:half + len(d) // 2 * 2:2] += d[: len(d) // 2]
    c[half + 1:half + len(d) // 2 * 2:2] -= d[: len(d) // 2]
    rng.shuffle(c[half:])
    assert c.min() >= 0 and c.sum() == E * mean
    return c


@case
def update_bias_sign_i32():
    k = Kernel("update_bias_sign_i32",
               "moe.update_bias sign on 1-D i32 counts (several exactly at the mean), "
               "with and without center, rate 1e-3")
    rng = rng_for(25)
    E = 64
    b = k.arg("b", rng.normal(0, 0.05, E), "f32")
    c = k.arg("c", _counts_with_mean_ties(rng, E, 37), "i32")
    k.ret(k.update_bias("sign", b, c, 1e-3), k.update_bias("sign", b, c, 1e-3, center=True))
    return k


@case
def update_bias_linear_f32_batched():
    k = Kernel("update_bias_linear_f32_batched",
               "moe.update_bias linear on a batched [4, 64] bias with f32 loads, "
               "with and without center")
    rng = rng_for(26)
    b = k.arg("b", rng.normal(0, 0.05, (4, 64)), "f32")
    cv = rng.uniform(0, 300, (4, 64)).astype(F32)
    cv[1] = 16.0                            # a balanced layer: err == 0
    cv[2] = np.round(cv[2])                 # integral f32 loads
    c = k.arg("c", cv, "f32")
    k.ret(k.update_bias("linear", b, c, 1e-3),
          k.update_bias("linear", b, c, 1e-3, center=True),
          k.update_bias("sign", b, c, 1e-3))
    return k


@case
def update_bias_i64_batched():
    k = Kernel("update_bias_i64_batched",
               "moe.update_bias on [4, 64] i64 loads (a zero row, a tie-to-mean row): sign+center, linear")
    rng = rng_for(27)
    b = k.arg("b", rng.normal(0, 0.05, (4, 64)), "f32")
    cv = rng.integers(0, 5000, size=(4, 64)).astype(np.int64)
    cv[1] = 0
    cv[2] = _counts_with_mean_ties(rng, 64, 100)
    c = k.arg("c", cv, "i64")
    k.ret(k.update_bias("sign", b, c, 1e-3, center=True), k.update_bias("linear", b, c, 1e-4),
          k.update_bias("sign", b, c, 1e-3))
    return k


@case
def update_bias_rate_zero():
    k = Kernel("update_bias_rate_zero",
               "moe.update_bias with rate 0 (bias unchanged), and i32 [2, 96] linear+center")
    rng = rng_for(28)
    b = k.arg("b", rng.normal(0, 0.05, 96), "f32")
    c = k.arg("c", rng.integers(0, 100, 96), "i32")
    b2 = k.arg("b2", rng.normal(0, 0.05, (2, 96)), "f32")
    c2 = k.arg("c2", rng.integers(0, 100, (2, 96)), "i32")
    k.ret(k.update_bias("sign", b, c, 0.0), k.update_bias("linear", b, c, 0.0, center=True),
          k.update_bias("linear", b2, c2, 2e-3, center=True))
    return k


@case
def imbalance_i32_i64_zero():
    k = Kernel("imbalance_i32_i64_zero",
               "moe.imbalance on i32 counts, an all-zero load, i64 counts beyond 2^32, a balanced load")
    rng = rng_for(29)
    c1 = k.arg("c1", rng.integers(0, 200, 256), "i32")
    c2 = k.arg("c2", np.zeros(64, dtype=np.int64), "i32")
    c3v = rng.integers(0, 1 << 20, 160).astype(np.int64)
    c3v[7] = 6_000_000_000
    c3 = k.arg("c3", c3v, "i64")
    c4 = k.arg("c4", np.full(96, 12, dtype=np.int64), "i32")
    c5 = k.arg("c5", np.zeros(16, dtype=np.int64), "i64")
    k.ret(k.imbalance(c1), k.imbalance(c2), k.imbalance(c3), k.imbalance(c4), k.imbalance(c5))
    return k


def _topk_like(rng, T, K, E, p=None):
    """Indices as a top-K produces them: K distinct experts per token."""
    return np.stack([rng.choice(E, K, replace=False, p=p) for _ in range(T)])


@case
def dispatch_block4_dynamic():
    k = Kernel("dispatch_block4_dynamic",
               "moe.dispatch block = 4, E = 32, top-4, some -1 indices, dynamic T")
    rng = rng_for(30)
    iv = _topk_like(rng, 70, 4, 32)
    iv[rng.uniform(size=iv.shape) < 0.05] = -1
    i = k.arg("idx", iv, "i32", dyn=True)
    k.ret(*k.dispatch(i, 32, block=4))
    return k


@case
def dispatch_block64_dynamic():
    k = Kernel("dispatch_block64_dynamic",
               "moe.dispatch block = 64 (an empty expert, rows past offsets[E]), E = 16, top-2")
    rng = rng_for(31)
    p = np.ones(16)
    p[5] = 0
    iv = _topk_like(rng, 50, 2, 16, p / p.sum())
    i = k.arg("idx", iv, "i32", dyn=True)
    k.ret(*k.dispatch(i, 16, block=64))
    return k


@case
def dispatch_capacity_static():
    k = Kernel("dispatch_capacity_static",
               "moe.dispatch with capacity 6 (skewed load: later pairs dropped), block 1 and 4, "
               "static T = 64, default block")
    rng = rng_for(32)
    p = np.exp(-np.arange(16) / 3.0)
    iv = _topk_like(rng, 64, 2, 16, p / p.sum())
    iv[3, 1] = -1
    i = k.arg("idx", iv, "i32")
    k.ret(*k.dispatch(i, 16, capacity=6), *k.dispatch(i, 16, capacity=6, block=4))
    return k


@case
def dispatch_i64_invalid_dynamic():
    k = Kernel("dispatch_i64_invalid_dynamic",
               "moe.dispatch on i64 indices with -1 / out-of-range values and repeats, "
               "E = 12, block 2, i64 results")
    rng = rng_for(33)
    iv = rng.integers(-2, 14, size=(40, 3)).astype(np.int64)
    iv[0] = [-1, 12, 99]
    iv[1] = [5, 5, 5]
    iv[2] = [(1 << 33) + 1, 1, -(1 << 33)]
    i = k.arg("idx", iv, "i64", dyn=True)
    k.ret(*k.dispatch(i, 12, block=2, out="i64"))
    return k


def _token_ids(rng, P, T):
    ids = rng.integers(0, T, size=P)
    ids[rng.uniform(size=P) < 0.3] = -1
    ids[-3:] = -1
    return ids


@case
def permute_f32_dynamic():
    k = Kernel("permute_f32_dynamic", "moe.permute of f32 rows (H = 16), -1 ids give zero rows")
    rng = rng_for(34)
    x = k.arg("x", rng.normal(0, 1, (20, 16)), "f32", dyn=True)
    t = k.arg("ids", _token_ids(rng, 50, 20), "i32", dyn=True)
    k.ret(k.permute(x, t))
    return k


@case
def permute_bf16_dynamic():
    k = Kernel("permute_bf16_dynamic", "moe.permute of bf16 rows (H = 24), i64 ids with -1")
    rng = rng_for(35)
    x = k.arg("x", rng.normal(0, 1, (17, 24)), "bf16", dyn=True)
    t = k.arg("ids", _token_ids(rng, 41, 17), "i64", dyn=True)
    k.ret(k.permute(x, t))
    return k


def _slots(rng, T, K, P):
    s = rng.integers(0, P, size=(T, K))
    s[rng.uniform(size=(T, K)) < 0.2] = -1
    s[0] = -1
    return s


@case
def combine_f32_dynamic():
    k = Kernel("combine_f32_dynamic",
               "moe.combine of f32 expert rows (H = 16), K = 3, -1 slots skipped (a row of all -1)")
    rng = rng_for(36)
    yg = k.arg("yg", rng.normal(0, 1, (60, 16)), "f32", dyn=True)
    w = k.arg("w", rng.uniform(0, 1, (20, 3)), "f32", dyn=True)
    s = k.arg("slots", _slots(rng, 20, 3, 60), "i32", dyn=True)
    k.ret(k.combine(yg, w, s))
    return k


@case
def combine_bf16_dynamic():
    k = Kernel("combine_bf16_dynamic",
               "moe.combine of bf16 expert rows (f32 accumulation, one rounding at the end), K = 4")
    rng = rng_for(37)
    yg = k.arg("yg", rng.normal(0, 1, (64, 16)), "bf16", dyn=True)
    w = k.arg("w", rng.uniform(0, 1, (24, 4)), "f32", dyn=True)
    s = k.arg("slots", _slots(rng, 24, 4, 64), "i32", dyn=True)
    k.ret(k.combine(yg, w, s))
    return k


@case
def combine_f16_static():
    k = Kernel("combine_f16_static", "moe.combine of f16 expert rows, static shapes, i64 slots")
    rng = rng_for(38)
    yg = k.arg("yg", rng.normal(0, 1, (30, 8)), "f16")
    w = k.arg("w", rng.uniform(0, 1, (10, 2)), "f32")
    s = k.arg("slots", _slots(rng, 10, 2, 30), "i64")
    k.ret(k.combine(yg, w, s))
    return k


@case
def moe_layer_bf16_dynamic():
    k = Kernel("moe_layer_bf16_dynamic",
               "end to end: route (bf16 logits, E = 32, 4 groups keep 2, top-4, normalize 2.5) -> "
               "dispatch (block 8) -> permute (bf16 H = 16) -> combine")
    rng = rng_for(39)
    x = k.arg("logits", _logits(rng, 40, 32, 1.5), "bf16", dyn=True)
    b = k.arg("b", rng.normal(0, 0.1, 32), "f32")
    h = k.arg("h", rng.normal(0, 1, (40, 16)), "bf16", dyn=True)
    w, i, c = k.route("sigmoid", x, b, 4, num_groups=4, topk_groups=2, normalize=True, scale=2.5)
    off, tok, slot = k.dispatch(i, 32, block=8)
    xg = k.permute(h, tok)
    y = k.combine(xg, w, slot)
    k.ret(w, i, c, off, tok, slot, xg, y)
    return k


@case
def single_token_dynamic():
    k = Kernel("single_token_dynamic",
               "T = 1 (dynamic): route (E = 16, 4 groups keep 2, top-2, normalize) -> dispatch "
               "(block 4) -> permute -> combine (f32 H = 8)")
    rng = rng_for(40)
    x = k.arg("x", _logits(rng, 1, 16), "f32", dyn=True)
    b = k.arg("b", rng.normal(0, 0.1, 16), "f32")
    h = k.arg("h", rng.normal(0, 1, (1, 8)), "f32", dyn=True)
    w, i, c = k.route("sigmoid", x, b, 2, num_groups=4, topk_groups=2, normalize=True)
    off, tok, slot = k.dispatch(i, 16, block=4)
    y = k.combine(k.permute(h, tok), w, slot)
    k.ret(w, i, c, off, tok, slot, y, k.imbalance(c))
    return k


# ---------------------------------------------------------------------------
# Cases for every selection path
# ---------------------------------------------------------------------------
#
# The cases above use K <= 16, E a multiple of 16 and at most 16 groups of at
# most 64 experts: the CPU's threshold path with its groups in vectors. The
# cases below reach the other paths of the CPU selection (Selector in
# lib/Conversion/MoEToSCF/MoEToLoops.cpp) and of the GPU warp selection
# (emitWarpSelection in lib/Conversion/MoEToGPU/MoEToGPU.cpp); the emulator
# runs every case for sm_90 (redux.sync arg-max) and sm_75 (shuffle
# butterfly).
#
# - route_k24_e40_dynamic: K > 16, the CPU's K rounds of arg-max, on rows
#   held in one vector (E = 40 padded to 48, and E = 64 exactly); E = 40 has
#   a scalar tail; vector groups. GPU: K = 24; a second slot per lane that
#   only lanes 0..7 fill.
# - topk_k32_e200_g40_dynamic: K > 16 on wider rows (the CPU's two-level
#   tournament over chunks of 16 experts), 40 groups (more than 16: the CPU's
#   scalar group path), a scalar tail (E = 200). GPU: K = 32, the largest;
#   7 slots per lane, the last partial; 40 groups.
# - route_e512_g4_wide_groups_dynamic: groups of 128 experts (more than 64:
#   the CPU's scalar group path) on the threshold path. GPU: 16 slots.
# - route_e1024_g64_k16_dynamic: 64 groups (scalar groups) with K = 16, the
#   largest K of the CPU's threshold path. GPU: the largest row (32 slots per
#   lane) and 64 groups (every bit of the kept-group mask).
# - route_e72_g9_keep3_dynamic: E = 72 (a scalar tail of 8) and E = 13 (no
#   vector chunk at all) on the threshold path, with vector groups (9 of 8
#   experts, 13 of one). GPU: a last slot of 8 lanes, one slot of 13.
# - topk_candidates_over_16_dynamic: rows where more than 16 experts reach
#   the CPU's threshold (the best keys in one lane of the vectors, or equal
#   keys), so that its arg-max over the candidates decides, after the narrow
#   (K <= 6) and the wide ranks; vector groups of exactly 64 experts. GPU:
#   exact ties, decided by expert index in both arg-max forms.


@case
def route_k24_e40_dynamic():
    k = Kernel("route_k24_e40_dynamic",
               "K > 16 on rows of at most 64 experts: route E = 40 top-24 (sigmoid, bias, "
               "normalize 2.5); topk E = 40 in 5 groups of 8 keep 4, top-20; topk E = 64 "
               "(softmax), top-17")
    rng = rng_for(150)
    x = k.arg("x", _logits(rng, 37, 40, 1.5), "f32", dyn=True)
    b = k.arg("b", rng.normal(0, 0.1, 40), "f32")
    x64 = k.arg("x64", _logits(rng, 23, 64, 2.0), "f32", dyn=True)
    w, i, c = k.route("sigmoid", x, b, 24, normalize=True, scale=2.5)
    w2, i2 = k.topk(k.score("sigmoid", x), b, 20, num_groups=5, topk_groups=4)
    w3, i3 = k.topk(k.score("softmax", x64), None, 17)
    k.ret(w, i, c, w2, i2, w3, i3)
    return k


@case
def topk_k32_e200_g40_dynamic():
    k = Kernel("topk_k32_e200_g40_dynamic",
               "K = 32 on rows of E = 200: route in 40 groups of 5 keep 10 (sigmoid, bias, "
               "normalize), topk without groups (i64 indices)")
    rng = rng_for(751)
    x = k.arg("x", _logits(rng, 29, 200, 1.5), "f32", dyn=True)
    b = k.arg("b", rng.normal(0, 0.1, 200), "f32")
    w, i, c = k.route("sigmoid", x, b, 32, num_groups=40, topk_groups=10, normalize=True)
    w2, i2 = k.topk(k.score("sigmoid", x), b, 32, idx="i64")
    k.ret(w, i, c, w2, i2)
    return k


@case
def route_e512_g4_wide_groups_dynamic():
    k = Kernel("route_e512_g4_wide_groups_dynamic",
               "groups wider than 64 experts: E = 512 in 4 groups of 128 keep 2, top-8; route "
               "(sigmoid, bias, normalize 2.5, group_top 2) and topk (group_top 4)")
    rng = rng_for(52)
    x = k.arg("x", _logits(rng, 25, 512, 1.5), "f32", dyn=True)
    b = k.arg("b", rng.normal(0, 0.1, 512), "f32")
    w, i, c = k.route("sigmoid", x, b, 8, num_groups=4, topk_groups=2, normalize=True,
                      scale=2.5)
    w2, i2 = k.topk(k.score("sigmoid", x), b, 8, num_groups=4, topk_groups=2, group_top=4)
    k.ret(w, i, c, w2, i2)
    return k


@case
def route_e1024_g64_k16_dynamic():
    k = Kernel("route_e1024_g64_k16_dynamic",
               "E = 1024 in 64 groups of 16 keep 8, top-16 (sigmoid, bias, normalize, "
               "i64 counts), imbalance")
    rng = rng_for(53)
    x = k.arg("x", _logits(rng, 19, 1024, 1.5), "f32", dyn=True)
    b = k.arg("b", rng.normal(0, 0.1, 1024), "f32")
    w, i, c = k.route("sigmoid", x, b, 16, cnt="i64", num_groups=64, topk_groups=8,
                      normalize=True)
    k.ret(w, i, c, k.imbalance(c))
    return k


@case
def route_e72_g9_keep3_dynamic():
    k = Kernel("route_e72_g9_keep3_dynamic",
               "E not a multiple of 16: route on bf16 logits, E = 72 in 9 groups of 8 keep 3, "
               "top-6 (bias, normalize); topk E = 13, top-3 and 13 single-expert groups keep 5, "
               "top-4")
    rng = rng_for(54)
    x = k.arg("x", _logits(rng, 41, 72, 2.0), "bf16", dyn=True)
    b = k.arg("b", rng.normal(0, 0.1, 72), "f32")
    x13 = k.arg("x13", _logits(rng, 30, 13), "f32", dyn=True)
    b13 = k.arg("b13", rng.normal(0, 0.1, 13), "f32")
    w, i, c = k.route("sigmoid", x, b, 6, num_groups=9, topk_groups=3, normalize=True)
    s13 = k.score("sigmoid", x13)
    w2, i2 = k.topk(s13, b13, 3)
    w3, i3 = k.topk(s13, b13, 4, num_groups=13, topk_groups=5)
    k.ret(w, i, c, w2, i2, w3, i3)
    return k


def _crowded_scores(rng, T, E, lanes=16):
    """Scores whose best experts share one column of the CPU selection's lane
    maxima (expert 16c + (l xor (5c % 16)) for column l: lane l of chunk c
    joins column l xor (5c mod 16)): more than 16 experts reach the
    threshold taken from the column maxima, with distinct keys; every third
    row has only a few distinct (exactly equal) values; the others are
    plain."""
    s = rng.normal(0.0, 0.3, size=(T, E)).astype(F32)
    for t in range(T):
        if t % 3 == 0:
            lane = rng.integers(0, lanes)
            crowd = np.array([lanes * c + (lane ^ (5 * c % lanes))
                              for c in range(E // lanes)])
            s[t, crowd] = 1.5 + 0.0625 * rng.permutation(len(crowd))
        elif t % 3 == 1:
            s[t] = np.array([0.25, 0.5, 0.75], dtype=F32)[rng.integers(0, 3, size=E)]
            if t % 2:
                s[t] = 0.5
    return s


@case
def topk_candidates_over_16_dynamic():
    k = Kernel("topk_candidates_over_16_dynamic",
               "rows where more than 16 experts reach the selection threshold (the best keys "
               "in one vector lane, or equal keys), E = 512: topk top-8 and top-4, topk in 8 "
               "groups of 64 keep 4, top-6 (bias); route on such logits, top-8")
    rng = rng_for(55)
    E = 512
    s = k.arg("s", _crowded_scores(rng, 24, E), "f32", dyn=True)
    b = k.arg("b", np.array([0.0, 0.25] * (E // 2), dtype=F32), "f32")
    x = k.arg("x", _crowded_scores(rng, 18, E), "f32", dyn=True)
    w1, i1 = k.topk(s, None, 8)
    w2, i2 = k.topk(s, None, 4)
    w3, i3 = k.topk(s, b, 6, num_groups=8, topk_groups=4)
    w4, i4, c4 = k.route("sigmoid", x, None, 8, normalize=True)
    k.ret(w1, i1, w2, i2, w3, i3, w4, i4, c4)
    return k


def _periodic_logits(rng, T, E, period):
    """Smooth periodic logits: a sine over the experts with a period of
    `period` experts and a phase per token, so that the repeated peaks, a
    little higher from one period to the next, are near ties and, with a
    period that is a multiple of 16, fall on the same lane of every CPU
    vector. The peak sits 0.3 experts off an expert, which keeps its two
    neighbours apart."""
    phase = (rng.integers(0, period, size=(T, 1)) + 0.3) / period
    e = np.arange(E)[None, :]
    x = np.sin(2 * np.pi * (e / period + phase)) + 0.02 * (e // period)
    return x.astype(F32)


@case
def route_periodic_near_ties_dynamic():
    k = Kernel("route_periodic_near_ties_dynamic",
               "smooth periodic logits (periods E/4 and E/16: the peaks share vector lanes), "
               "E = 64 top-6 and DeepSeek-V3 E = 256 in 8 groups keep 4, top-8")
    rng = rng_for(99)
    x1 = k.arg("x1", _periodic_logits(rng, 40, 64, 16), "f32", dyn=True)
    x2 = k.arg("x2", _periodic_logits(rng, 24, 256, 64), "f32", dyn=True)
    x3 = k.arg("x3", _periodic_logits(rng, 24, 256, 16), "f32", dyn=True)
    b2 = k.arg("b2", (0.004 * (np.arange(256) % 5)).astype(F32), "f32")
    w1, i1, c1 = k.route("sigmoid", x1, None, 6, normalize=True)
    w2, i2, c2 = k.route("sigmoid", x2, b2, 8, num_groups=8, topk_groups=4,
                         normalize=True, scale=2.5)
    w3, i3, c3 = k.route("sigmoid", x3, b2, 8, normalize=True)
    k.ret(w1, i1, c1, w2, i2, c2, w3, i3, c3)
    return k


def build(name):
    """Builds case `name` (a Kernel holding program and expected values)."""
    if name not in CASES:
        raise SystemExit("unknown case %r (see `moe_ref.py list`)" % name)
    return CASES[name]()


# ---------------------------------------------------------------------------
# Checking printed output
# ---------------------------------------------------------------------------

_NUM = re.compile(r"[-+]?(?:nan|inf|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)",
                  re.IGNORECASE)
_SIZES = re.compile(r"sizes\s*=\s*\[([^\]]*)\]")


def parse_memref_prints(text):
    """Splits printMemref output into blocks: a list of (sizes, tokens)."""
    blocks = []
    parts = text.split("Unranked Memref")[1:]
    for part in parts:
        m = _SIZES.search(part)
        sizes = [int(v) for v in m.group(1).split(",") if v.strip()] if m else None
        d = part.find("data =")
        data = part[d + len("data ="):] if d >= 0 else ""
        blocks.append((sizes, _NUM.findall(data)))
    return blocks


def tolerance(elem):
    """(rtol, atol) for a result of element type `elem`. f32 results are
    printed with 6 significant digits; bf16/f16 results may differ from the
    reference by one unit in the last place (summation order)."""
    return {"f32": (1e-4, 1e-5), "bf16": (2.0 ** -7, 1e-5),
            "f16": (2.0 ** -10, 1e-5)}[elem]


def compare(kernel, text, max_lines=20):
    """Compares printed output with the reference. Returns (ok, report lines)."""
    blocks = parse_memref_prints(text)
    report, mismatches, shown = [], 0, 0
    outs = kernel.results
    if len(blocks) != len(outs):
        report.append("ERROR: %d printed memrefs, expected %d (one per result: %s)"
                      % (len(blocks), len(outs), ", ".join(r.type() for r in outs)))
        return False, report
    for n, (r, (sizes, toks)) in enumerate(zip(outs, blocks)):
        label = "output %d (%s %s)" % (n, r.name, r.type())
        exp_shape = [1] if r.scalar else list(r.shape)
        if sizes != exp_shape:
            report.append("ERROR: %s: printed sizes %s, expected %s" % (label, sizes, exp_shape))
            mismatches, shown = mismatches + 1, shown + 1
            continue
        expected = np.asarray(r.value).reshape(-1)
        if len(toks) != expected.size:
            report.append("ERROR: %s: %d numbers printed, expected %d"
                          % (label, len(toks), expected.size))
            mismatches, shown = mismatches + 1, shown + 1
            continue
        bad = []
        if r.elem in INT_ELEMS:
            for p, (tok, e) in enumerate(zip(toks, expected)):
                try:
                    g = int(tok)
                except ValueError:
                    g = None
                if g != int(e):
                    bad.append((p, tok, int(e)))
        else:
            rtol, atol = tolerance(r.elem)
            got = np.array([float(tk) for tk in toks])
            exp = expected.astype(np.float64)
            with np.errstate(all="ignore"):
                same_special = (np.isnan(got) & np.isnan(exp)) | (got == exp)
                close = np.abs(got - exp) <= atol + rtol * np.abs(exp)
            for p in np.nonzero(~(same_special | (close & np.isfinite(exp))))[0]:
                bad.append((int(p), toks[p], "%.7g" % exp[p]))
        if not bad:
            report.append("ok    %s" % label)
            continue
        mismatches += len(bad)
        report.append("FAIL  %s: %d mismatches" % (label, len(bad)))
        for p, g, e in bad:
            if shown >= max_lines:
                break
            shown += 1
            pos = [int(q) for q in np.unravel_index(p, exp_shape)]
            report.append("  %s%s: got %s, expected %s" % (r.name, pos, g, e))
    if mismatches > shown:
        report.append("  ... %d more mismatches not shown" % (mismatches - shown))
    return mismatches == 0, report


# ---------------------------------------------------------------------------
# Self-test of the reference on hand-computed examples
# ---------------------------------------------------------------------------


def _eq(got, exp, what):
    got, exp = np.asarray(got), np.asarray(exp)
    ok = got.shape == exp.shape and bool(np.all(
        (got == exp) | (np.isnan(got.astype(float)) & np.isnan(exp.astype(float)))))
    if not ok:
        raise AssertionError("%s: got %s, expected %s" % (what, got.tolist(), exp.tolist()))


def _close(got, exp, what, tol=1e-6):
    got, exp = np.asarray(got, dtype=float), np.asarray(exp, dtype=float)
    if got.shape != exp.shape or not np.allclose(got, exp, rtol=tol, atol=tol, equal_nan=True):
        raise AssertionError("%s: got %s, expected %s" % (what, got.tolist(), exp.tolist()))


def selftest():
    """Asserts the reference against small examples derived by hand."""
    nan, inf = np.nan, np.inf
    n = 0

    def s(rows):
        return np.array(rows, dtype=F32)

    # topk: ties -> lower index, NaN below everything, -inf above NaN.
    w, i = ref_topk(s([[0.5, nan, 0.5, 0.7]]), None, 3)
    _eq(i, [[3, 0, 2]], "topk ties"); _close(w, [[0.7, 0.5, 0.5]], "topk ties w"); n += 1
    w, i = ref_topk(s([[0.5, nan, 0.5, 0.7]]), None, 4)
    _eq(i, [[3, 0, 2, 1]], "topk NaN last"); _eq(w, s([[0.7, 0.5, 0.5, nan]]), "w"); n += 1
    _, i = ref_topk(s([[-inf, nan, 0.1, -inf]]), None, 4)
    _eq(i, [[2, 0, 3, 1]], "topk -inf before NaN"); n += 1
    _, i = ref_topk(s([[nan, nan, nan, nan]]), None, 2)
    _eq(i, [[0, 1]], "topk all NaN"); n += 1
    # bias steers the choice, weights stay unbiased.
    w, i = ref_topk(s([[0.2, 0.3, 0.25]]), s([0.2, 0.0, 0.0]), 2)
    _eq(i, [[0, 1]], "bias choice"); _close(w, [[0.2, 0.3]], "bias weights"); n += 1
    # groups: E = 4, G = 2, keep 1, group_top 2.
    _, i = ref_topk(s([[0.1, 0.9, 0.5, 0.6]]), None, 2, 2, 1)
    _eq(i, [[3, 2]], "group sums 1.0 vs 1.1"); n += 1
    w, i = ref_topk(s([[0.1, 0.9, 0.5, 0.6]]), s([0, 0, 0, -0.25]), 2, 2, 1)
    _eq(i, [[1, 0]], "bias flips group"); _close(w, [[0.9, 0.1]], "w"); n += 1
    _, i = ref_topk(s([[0.5, 0.5, 0.5, 0.5]]), None, 2, 2, 1)
    _eq(i, [[0, 1]], "group tie -> group 0"); n += 1
    _, i = ref_topk(s([[inf, -inf, 0.1, 0.2]]), None, 2, 2, 1)
    _eq(i, [[3, 2]], "inf + -inf group is NaN, ranks last"); n += 1
    _, i = ref_topk(s([[nan, 0.3, 0.1, 0.1]]), None, 2, 2, 1)
    _eq(i, [[2, 3]], "NaN key counts -inf in group sum"); n += 1
    w, i = ref_topk(s([[nan, 0.3, 0.1, 0.2]]), None, 2, 2, 1, 1)
    _eq(i, [[1, 0]], "group_top 1"); _eq(w, s([[0.3, nan]]), "w"); n += 1
    # excluded, not zeroed: negative keys in kept group still win.
    _, i = ref_topk(s([[-0.5, -0.6, 0.0, -9.0]]), None, 2, 2, 1)
    _eq(i, [[0, 1]], "excluded group"); n += 1
    # group_top 3, E = 6, G = 2: sums 0.3+0.2+0.1 = 0.6 vs 0.55; top-2: 0.5 vs 0.55.
    _, i = ref_topk(s([[0.1, 0.2, 0.3, 0.55, 0.0, 0.0]]), None, 1, 2, 1, 3)
    _eq(i, [[2]], "group_top 3"); n += 1
    _, i = ref_topk(s([[0.1, 0.2, 0.3, 0.55, 0.0, 0.0]]), None, 1, 2, 1)
    _eq(i, [[3]], "group_top default 2"); n += 1

    # scores
    _close(ref_score(s([[0.0, -inf, inf]]), "sigmoid"), [[0.5, 0.0, 1.0]], "sigmoid"); n += 1
    _close(ref_score(s([[0.0, np.log(3.0)]]), "softmax"), [[0.25, 0.75]], "softmax"); n += 1
    _close(ref_score(s([[0.0, 1e30, 88.8, -inf]]), "sqrtsoftplus"),
           [[np.sqrt(np.log(2.0)), 1e15, np.sqrt(88.8), 0.0]], "sqrtsoftplus", 1e-5); n += 1
    _eq(np.isnan(ref_score(s([[nan]]), "sigmoid")), [[True]], "NaN score"); n += 1

    # normalize, load
    _close(ref_normalize(s([[1, 3], [0, 0]]), 2.0), [[0.5, 1.5], [0, 0]], "normalize"); n += 1
    _eq(ref_load([[0, 1], [1, -1], [3, 2], [1, 0]], 3, [True, True, True, False]),
        [1, 2, 1], "load mask + invalid"); n += 1

    # update_bias / imbalance
    z = np.zeros(3, dtype=F32)
    _close(ref_update_bias(z, np.array([1, 2, 3]), "sign", 0.5), [0.5, 0, -0.5],
           "sign with a tie to the mean"); n += 1
    _close(ref_update_bias(z, np.array([0, 0, 3]), "sign", 0.5, True),
           [1 / 3, 1 / 3, -2 / 3], "sign center"); n += 1
    _close(ref_update_bias(z, np.array([0, 0, 3]), "linear", 0.5), [0.5, 0.5, -1.0],
           "linear"); n += 1
    _close(ref_update_bias(np.zeros((2, 2), F32), np.array([[1, 3], [5, 5]]), "linear", 1.0),
           [[1, -1], [0, 0]], "batched rows"); n += 1
    _close(ref_imbalance(np.array([1, 2, 3])), 0.5, "imbalance"); n += 1
    _close(ref_imbalance(np.array([0, 0])), 0.0, "imbalance zero"); n += 1

    # dispatch: T = 3, K = 2, E = 3, block 2, with and without capacity 2.
    idx = np.array([[0, 1], [0, 2], [0, -1]])
    o, t, sl = ref_dispatch(idx, 3, block=2, capacity=2)
    _eq(o, [0, 2, 4, 6], "offsets cap"); _eq(t, [0, 1, 0, -1, 1, -1], "token_ids cap")
    _eq(sl, [[0, 2], [1, 4], [-1, -1]], "slots cap"); n += 1
    o, t, sl = ref_dispatch(idx, 3, block=2)
    _eq(o, [0, 4, 6, 8], "offsets"); _eq(t, [0, 1, 2, -1, 0, -1, 1, -1, -1], "token_ids")
    _eq(sl, [[0, 4], [1, 6], [2, -1]], "slots"); n += 1
    o, t, sl = ref_dispatch(np.array([[1, 1], [5, 0]]), 2)
    _eq(o, [0, 1, 3], "repeat offsets"); _eq(t, [1, 0, 0, -1], "repeat ids")
    _eq(sl, [[1, 2], [-1, 0]], "repeat slots"); n += 1

    # permute / combine
    x = s([[1, 2], [3, 4]])
    _eq(ref_permute(x, [1, -1, 0]), [[3, 4], [0, 0], [1, 2]], "permute"); n += 1
    y = ref_combine(s([[1, 1], [2, 4], [8, 8]]), s([[0.5, 0.25], [1, 1]]),
                    np.array([[1, 0], [-1, -1]]))
    _close(y, [[1.25, 2.25], [0, 0]], "combine"); n += 1
    # 1 + 2^-8 + 2^-8 = 1 + 2^-7 in f32; rounding each step to bf16 would give 1.
    y = ref_combine(s([[1.0, 1.0]]), s([[1.0, 2.0 ** -8, 2.0 ** -8]]), np.array([[0, 0, 0]]),
                    "bf16")
    _eq(y, [[1 + 2 ** -7, 1 + 2 ** -7]], "combine rounds once at the end"); n += 1

    # number formats
    _eq(bf16_bits(s([1 + 2 ** -8, 1 + 3 * 2 ** -8, -inf, nan])),
        np.array([0x3F80, 0x3F82, 0xFF80, 0x7FC0], dtype=np.uint16), "bf16 RNE"); n += 1
    _eq(f16_bits(s([1 + 2 ** -11, 1 + 3 * 2 ** -11, 70000.0])),
        np.array([0x3C00, 0x3C02, 0x7C00], dtype=np.uint16), "f16 RNE"); n += 1
    lits = [fmt_f32(v) for v in (2.0 ** -20, 2.5, nan, -inf, -0.0)]
    assert lits == ["9.5367431640625e-07", "2.5", "0x7FC00000", "0xFF800000", "-0.0"], lits
    vals = np.random.default_rng(0).normal(0, 1e3, 1000).astype(F32)
    assert all(F32(float(fmt_f32(v))) == v for v in vals), "f32 literals are exact"
    n += 1

    # output parsing
    txt = ("Unranked Memref base@ = 0x5 rank = 2 offset = 0 sizes = [2, 2] strides = [2, 1] "
           "data = \n[[nan,   1.5], \n [-inf,   1e-05]]\nUnranked Memref base@ = 0x6 rank = 1 "
           "offset = 0 sizes = [1] strides = [1] data = \n[-nan]\n")
    blocks = parse_memref_prints(txt)
    _eq(len(blocks), 2, "blocks"); _eq(blocks[0][0], [2, 2], "sizes")
    _eq(blocks[0][1], ["nan", "1.5", "-inf", "1e-05"], "tokens"); _eq(blocks[1][1], ["-nan"], "t")
    n += 1

    # every case builds, its program mentions each result, and topk invariants hold
    for name in CASES:
        kern = build(name)
        prog = kern.program()
        assert prog.count("call @printMemref") == len(kern.results), name
        for r in kern.results:
            E = getattr(r, "topk_experts", None)
            if E is not None:
                for row in np.asarray(r.value):
                    assert len(set(row.tolist())) == len(row), (name, "distinct")
                    assert row.min() >= 0 and row.max() < E, (name, "range")
        n += 1
    print("selftest: %d passed, 0 failed" % n)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def margins():
    """Prints, per case, the smallest non-zero relative gap between keys
    whose order matters for a top-K (group boundary or consecutive ranks)."""
    worst = []
    for name in CASES:
        MARGINS.active, MARGINS.min_gap, MARGINS.where = True, None, None
        build(name)
        MARGINS.active = False
        if MARGINS.min_gap is not None:
            flag = "  <-- near tie" if MARGINS.min_gap < 1e-5 else ""
            print("%-40s %.3g (%s)%s" % (name, MARGINS.min_gap, MARGINS.where, flag))
            if flag:
                worst.append(name)
    return 1 if worst else 0


def run_cli(argv, prog, cases, build, compare, commands):
    """The command line of a reference module: list, gen CASE, gen-all DIR,
    check CASE FILE, and the argument-less `commands` (name -> function
    returning an exit status)."""
    usage = "usage: %s list | gen CASE | gen-all DIR | check CASE FILE | %s" % (
        prog, " | ".join(commands))
    if not argv:
        print(usage, file=sys.stderr)
        return 2
    cmd = argv[0]
    if cmd == "list" and len(argv) == 1:
        print("\n".join(cases))
        return 0
    if cmd == "gen" and len(argv) == 2:
        sys.stdout.write(build(argv[1]).program())
        return 0
    if cmd == "gen-all" and len(argv) == 2:
        os.makedirs(argv[1], exist_ok=True)
        for name in cases:
            with open(os.path.join(argv[1], name + ".mlir"), "w") as f:
                f.write(build(name).program())
        return 0
    if cmd == "check" and len(argv) == 3:
        kern = build(argv[1])
        if argv[2] == "-":
            text = sys.stdin.read()
        else:
            with open(argv[2]) as f:
                text = f.read()
        ok, report = compare(kern, text)
        print("%s: %s" % (argv[1], "PASS" if ok else "FAIL"))
        print("\n".join(report))
        return 0 if ok else 1
    if cmd in commands and len(argv) == 1:
        return commands[cmd]()
    print(usage, file=sys.stderr)
    return 2


def main(argv):
    def run_selftest():
        selftest()
        return 0
    return run_cli(argv, "moe_ref.py", CASES, build, compare,
                   {"selftest": run_selftest, "margins": margins})


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:  # e.g. `moe_ref.py check ... | head -1`
        sys.stderr.close()
        sys.exit(1)

#!/usr/bin/env python3
"""Independent NumPy reference for the training ops of the `moe` dialect
(contract v2: moe.route_grad, moe.aux_loss, moe.aux_loss_grad).

The semantics are computed in float64 from the text of the contract
(shared/spec/moe-dialect.md, "Training ops"), not from the C++ lowering.
`selftest` checks them against central finite differences (float64) of the
forward computation and against PyTorch autograd of the same forward.
Programs and expected values are generated as moe_ref.py does (whose
helpers this module imports), with the same printed format and comparison.

Subcommands::

    moe_ref_train.py list              case names
    moe_ref_train.py gen CASE          the MLIR program of CASE on stdout
    moe_ref_train.py gen-all DIR       DIR/CASE.mlir for every case
    moe_ref_train.py check CASE FILE   compares printed output ('-': stdin)
    moe_ref_train.py selftest          finite differences, PyTorch autograd
                                       (/usr/bin/python3 with torch), and
                                       hand-computed examples

Readings where the contract leaves room:
- a valid expert that appears twice in a row gets the sum of both pairs'
  gradients (the gradient of w_j = s[i[t, j]] for every j);
- the reference computes in float64 from the logits as the program holds
  them (bf16/f16 rounded); the compiled code computes in f32, so results
  compare with moe_ref.py's tolerances (f32: rel 1e-4 + abs 1e-5).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import moe_ref  # noqa: E402  (re-executes with /usr/bin/python3 without numpy)
from moe_ref import (F32, Kernel, Val, compare, fmt_dense, fmt_elem,  # noqa: E402
                     ref_topk, rng_for, round_to)

np = moe_ref.np

# ---------------------------------------------------------------------------
# Reference semantics (float64)
# ---------------------------------------------------------------------------


def score64(x, fn):
    """The score function in float64 over the last dimension."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        if fn == "sigmoid":
            return 1.0 / (1.0 + np.exp(-x))
        if fn == "softmax":
            e = np.exp(x - np.max(x, axis=-1, keepdims=True))
            return e / np.sum(e, axis=-1, keepdims=True)
        if fn == "sqrtsoftplus":
            return np.sqrt(np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x))))
    raise ValueError("unknown score function %r" % fn)


def score_backward(x, s, ds, fn):
    """dx from ds through the score function (the contract's three rules)."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        if fn == "sigmoid":
            return ds * s * (1.0 - s)
        if fn == "sqrtsoftplus":
            sig = 1.0 / (1.0 + np.exp(-x))
            return np.where(s == 0, 0.0, ds * sig / (2.0 * s))
        if fn == "softmax":
            return s * (ds - np.sum(ds * s, axis=-1, keepdims=True))
    raise ValueError("unknown score function %r" % fn)


def _valid(idx, E):
    idx = np.asarray(idx, dtype=np.int64)
    return (idx >= 0) & (idx < E)


def route_grad(x, fn, idx, dw, normalize=False, scale=1.0):
    """moe.route_grad: d loss / d logits given d loss / d weights."""
    x = np.asarray(x, dtype=np.float64)
    T, E = x.shape
    s = score64(x, fn)
    ds = np.zeros((T, E))
    valid = _valid(idx, E)
    with np.errstate(all="ignore"):
        for t in range(T):
            e = np.asarray(idx[t], dtype=np.int64)[valid[t]]
            d = np.asarray(dw[t], dtype=np.float64)[valid[t]]
            w = s[t, e]
            S = np.sum(w)
            if normalize:
                g = np.zeros_like(d) if S == 0 else scale * (d - np.sum(d * w) / S) / S
            else:
                g = scale * d
            np.add.at(ds[t], e, g)
    return score_backward(x, s, ds, fn)


def sequences(T, seq_len):
    """(first, end) row bounds of the sequences of the balance loss."""
    L = seq_len if seq_len else max(T, 1)
    return [(b, min(b + L, T)) for b in range(0, T, L)]


def seq_counts(idx, E, first, end):
    """c[e]: valid pairs (t, j) with t in [first, end) and i[t, j] == e."""
    c = np.zeros(E)
    part = np.asarray(idx, dtype=np.int64)[first:end]
    ok = _valid(part, E)
    np.add.at(c, part[ok], 1.0)
    return c


def _p(s, normalize):
    if not normalize:
        return s
    rs = np.sum(s, axis=-1, keepdims=True)
    with np.errstate(all="ignore"):
        return np.where(rs == 0, 0.0, s / rs)


def aux_loss(x, fn, idx, seq_len=None, normalize=False):
    """moe.aux_loss: (1/B) sum_b sum_e f[b, e] P[b, e]; 0 without tokens."""
    x = np.asarray(x, dtype=np.float64)
    T, E = x.shape
    K = np.shape(idx)[1]
    seqs = sequences(T, seq_len)
    if not seqs:
        return 0.0
    p = _p(score64(x, fn), normalize)
    total = 0.0
    for first, end in seqs:
        Tb = end - first
        f = E * seq_counts(idx, E, first, end) / (K * Tb)
        P = np.sum(p[first:end], axis=0) / Tb
        total += np.sum(f * P)
    return total / len(seqs)


def aux_loss_grad(x, fn, idx, dl, seq_len=None, normalize=False):
    """moe.aux_loss_grad: dl times d aux_loss / d logits (f constant)."""
    x = np.asarray(x, dtype=np.float64)
    T, E = x.shape
    K = np.shape(idx)[1]
    seqs = sequences(T, seq_len)
    B = len(seqs)
    s = score64(x, fn)
    dp = np.zeros((T, E))
    for first, end in seqs:
        Tb = end - first
        f = E * seq_counts(idx, E, first, end) / (K * Tb)
        dp[first:end] = float(dl) * f / (B * Tb)
    if normalize:
        rs = np.sum(s, axis=-1, keepdims=True)
        p = _p(s, True)
        with np.errstate(all="ignore"):
            ds = np.where(rs == 0, 0.0,
                          (dp - np.sum(dp * p, axis=-1, keepdims=True)) / rs)
    else:
        ds = dp
    return score_backward(x, s, ds, fn)


# ---------------------------------------------------------------------------
# Independent forwards: finite differences and PyTorch autograd
# ---------------------------------------------------------------------------


def route_weights64(x, fn, idx, normalize, scale):
    """The weights of moe.route for fixed indices (0 for invalid pairs)."""
    s = score64(x, fn)
    T, E = s.shape
    valid = _valid(idx, E)
    w = np.where(valid, np.take_along_axis(s, np.clip(idx, 0, E - 1), axis=1), 0.0)
    if normalize:
        S = np.sum(w, axis=1, keepdims=True)
        return np.where(S == 0, 0.0, scale * w / np.where(S == 0, 1.0, S))
    return scale * w


def central_difference(f, x, h=1e-6):
    """d f / d x by central differences, element by element (float64)."""
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros_like(x)
    for pos in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[pos] += h
        xm[pos] -= h
        g[pos] = (f(xp) - f(xm)) / (2 * h)
    return g


def torch_route_grad(x, fn, idx, dw, normalize, scale):
    """PyTorch autograd of score -> gather -> [normalize] * scale."""
    import torch
    xt = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    E = xt.shape[1]
    s = _torch_score(torch, xt, fn)
    it = torch.tensor(np.asarray(idx, dtype=np.int64))
    valid = (it >= 0) & (it < E)
    w = s.gather(1, it.clamp(0, E - 1)) * valid
    if normalize:
        w = scale * w / w.sum(dim=1, keepdim=True)
    else:
        w = scale * w
    (w * torch.tensor(np.asarray(dw, dtype=np.float64))).sum().backward()
    return xt.grad.numpy()


def torch_aux_loss_grad(x, fn, idx, dl, seq_len, normalize):
    """PyTorch autograd of the balance loss (counts as constants)."""
    import torch
    xt = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    T, E = xt.shape
    K = np.shape(idx)[1]
    s = _torch_score(torch, xt, fn)
    p = s / s.sum(dim=1, keepdim=True) if normalize else s
    seqs = sequences(T, seq_len)
    loss = 0.0
    for first, end in seqs:
        Tb = end - first
        f = torch.tensor(E * seq_counts(idx, E, first, end) / (K * Tb))
        loss = loss + (f * p[first:end].mean(dim=0)).sum()
    loss = loss / len(seqs)
    (float(dl) * loss).backward()
    return float(loss.detach()), xt.grad.numpy()


def _torch_score(torch, x, fn):
    if fn == "sigmoid":
        return torch.sigmoid(x)
    if fn == "softmax":
        return torch.softmax(x, dim=1)
    return torch.sqrt(torch.nn.functional.softplus(x))


# ---------------------------------------------------------------------------
# Programs
# ---------------------------------------------------------------------------


class TrainKernel(Kernel):
    """moe_ref.Kernel with the training ops and rank-0 f32 tensors."""

    def scalar_arg(self, name, value):
        """A tensor<f32> argument."""
        v = Val("%" + name, np.asarray(F32(value)), "f32")
        self.args.append(v)
        return v

    def route_grad(self, fn, x, i, dw, normalize=False, scale=None, out="f32"):
        E = x.shape[1]
        assert i.shape[1] == dw.shape[1]
        val = route_grad(x.value, fn, i.value, dw.value, normalize,
                         1.0 if scale is None else scale)
        r = Val(self._fresh("g"), val, out, x.dyn)
        self.lines.append(
            "%s = moe.route_grad %s %s, %s, %s%s\n      : %s, %s, %s -> %s"
            % (r.name, fn, x.name, i.name, dw.name,
               moe_ref._attrs(normalize=normalize, scale=scale),
               x.type(), i.type(), dw.type(), r.type()))
        assert r.shape == (x.shape[0], E)
        return r

    def aux_loss(self, fn, x, i, seq_len=None, normalize=False):
        val = np.asarray(aux_loss(x.value, fn, i.value, seq_len, normalize))
        r = Val(self._fresh("l"), val, "f32")
        self.lines.append(
            "%s = moe.aux_loss %s %s, %s%s\n      : %s, %s -> %s"
            % (r.name, fn, x.name, i.name,
               moe_ref._attrs(seq_len=seq_len, normalize=normalize),
               x.type(), i.type(), r.type()))
        return r

    def aux_loss_grad(self, fn, x, i, dl, seq_len=None, normalize=False):
        val = aux_loss_grad(x.value, fn, i.value, dl.value, seq_len, normalize)
        r = Val(self._fresh("a"), val, "f32", x.dyn)
        self.lines.append(
            "%s = moe.aux_loss_grad %s %s, %s, %s%s\n      : %s, %s, %s -> %s"
            % (r.name, fn, x.name, i.name, dl.name,
               moe_ref._attrs(seq_len=seq_len, normalize=normalize),
               x.type(), i.type(), dl.type(), r.type()))
        return r

    def addf(self, a, b):
        assert a.elem == b.elem == "f32" and a.shape == b.shape
        r = Val(self._fresh("dx"), a.value + b.value, "f32", a.dyn)
        self.lines.append("%s = arith.addf %s, %s : %s"
                          % (r.name, a.name, b.name, r.type()))
        return r

    def rows(self, v):
        """The row count of `v` as a tensor<1xi64> (printMemref shows a
        garbage row for a memref without rows, so empty results print their
        row count instead)."""
        r = Val(self._fresh("n"), np.array([v.shape[0]], dtype=np.int64), "i64")
        c0, n = self._fresh("c"), self._fresh("d")
        self.lines.append("%s = arith.constant 0 : index" % c0)
        self.lines.append("%s = tensor.dim %s, %s : %s" % (n, v.name, c0, v.type()))
        self.lines.append("%s = arith.index_cast %s : index to i64" % (n + "i", n))
        self.lines.append("%s = tensor.from_elements %s : %s" % (r.name, n + "i", r.type()))
        return r

    def program(self):
        """The complete module: @kernel and a @main that calls it on constant
        arguments and prints every result (moe_ref.Kernel's layout, with
        rank-0 tensor<f32> arguments, which moe_ref.fmt_dense does not
        write)."""
        out = ["// Generated by test/Integration/ref/moe_ref_train.py gen %s" % self.name,
               "// " + " ".join(self.doc.split()),
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
        out += ["  }", "", "  func.func @main() {", "    %c0 = arith.constant 0 : index"]
        call_args = []
        for a in self.args:
            cst = "%%cst_%s" % a.name[1:]
            if np.ndim(a.value) == 0:
                body = fmt_elem(a.value, a.elem)
            elif np.size(a.value) == 0:
                body = ""  # `dense<>`: no elements (T = 0)
            else:
                body = fmt_dense(a.value, a.elem)
            out.append("    %s = arith.constant dense<%s>\n      : %s"
                       % (cst, body, a.type(static=True)))
            if a.dyn:
                out.append("    %s = tensor.cast %s : %s to %s"
                           % (a.name, cst, a.type(static=True), a.type()))
                call_args.append(a.name)
            else:
                call_args.append(cst)
        n = len(self.results)
        out.append("    %s = call @kernel(%s) : (%s) -> (%s)"
                   % ("%r" if n == 1 else "%%r:%d" % n, ", ".join(call_args),
                      ", ".join(a.type() for a in self.args), rtys))
        for q, r in enumerate(self.results):
            out += ["    " + ln for ln in
                    self._print_result(q, "%r" if n == 1 else "%%r#%d" % q, r)]
        out += ["    return", "  }", "}"]
        return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------

CASES = {}


def case(func):
    CASES[func.__name__] = func
    return func


def _logits(rng, T, E, sd=1.0):
    return rng.normal(0.0, sd, size=(T, E)).astype(F32)


def _indices(rng, x, fn, k, elem, num_groups=1, topk_groups=None, bias=True):
    """Indices of a biased (optionally grouped) selection on x's scores."""
    E = x.shape[1]
    s = moe_ref.ref_score(round_to(x, elem), fn)
    b = rng.normal(0.0, 0.1, size=E).astype(F32) if bias else None
    return ref_topk(s, b, k, num_groups, topk_groups)[1]


def _dw(rng, T, K):
    return rng.normal(0.0, 1.0, size=(T, K)).astype(F32)


@case
def grad_dsv3_bf16_dynamic():
    """DeepSeek-V3 routing (E=256, K=8, 8 groups keep 4) on bf16 logits: the
    routing gradient (normalize, scale 2.5) plus the sequence-wise balance
    loss gradient (seq_len 16 not dividing T = 37, normalized scores), and
    the loss."""
    k = TrainKernel("grad_dsv3_bf16_dynamic", grad_dsv3_bf16_dynamic.__doc__)
    rng = rng_for(120)
    T, E, K = 37, 256, 8
    xv = _logits(rng, T, E, 1.5)
    x = k.arg("x", xv, "bf16", dyn=True)
    i = k.arg("i", _indices(rng, xv, "sigmoid", K, "bf16", 8, 4), "i32", dyn=True)
    dw = k.arg("dw", _dw(rng, T, K), "f32", dyn=True)
    dl = k.scalar_arg("dl", 300.0)
    g = k.route_grad("sigmoid", x, i, dw, normalize=True, scale=2.5)
    a = k.aux_loss_grad("sigmoid", x, i, dl, seq_len=16, normalize=True)
    k.ret(k.addf(g, a), k.aux_loss("sigmoid", x, i, seq_len=16, normalize=True))
    return k


@case
def grad_sigmoid_f32_i64_static():
    """Sigmoid, f32 logits, i64 indices, static T: routing gradient without
    normalize (scale 1.5) plus the batch-wise (GShard) loss gradient."""
    k = TrainKernel("grad_sigmoid_f32_i64_static", grad_sigmoid_f32_i64_static.__doc__)
    rng = rng_for(121)
    T, E, K = 24, 64, 6
    xv = _logits(rng, T, E)
    x = k.arg("x", xv, "f32")
    i = k.arg("i", _indices(rng, xv, "sigmoid", K, "f32"), "i64")
    dw = k.arg("dw", _dw(rng, T, K), "f32")
    dl = k.scalar_arg("dl", 20.0)
    g = k.route_grad("sigmoid", x, i, dw, scale=1.5)
    a = k.aux_loss_grad("sigmoid", x, i, dl)
    k.ret(k.addf(a, g), k.aux_loss("sigmoid", x, i))
    return k


@case
def grad_softmax_f16_dynamic():
    """Softmax on f16 logits: routing gradient with normalize (scale 1),
    balance loss over sequences of 8 that divide T = 32, unnormalized; and
    routing gradients rounded once to f16."""
    k = TrainKernel("grad_softmax_f16_dynamic", grad_softmax_f16_dynamic.__doc__)
    rng = rng_for(122)
    T, E, K = 32, 48, 4
    xv = _logits(rng, T, E, 2.0)
    x = k.arg("x", xv, "f16", dyn=True)
    i = k.arg("i", _indices(rng, xv, "softmax", K, "f16", bias=False), "i32", dyn=True)
    dw = k.arg("dw", _dw(rng, T, K), "f32", dyn=True)
    dl = k.scalar_arg("dl", 50.0)
    g = k.route_grad("softmax", x, i, dw, normalize=True)
    a = k.aux_loss_grad("softmax", x, i, dl, seq_len=8)
    k.ret(k.addf(g, a), k.aux_loss("softmax", x, i, seq_len=8),
          k.route_grad("softmax", x, i, dw, normalize=True, scale=4.0, out="f16"),
          k.route_grad("sqrtsoftplus", x, i, dw, scale=4.0, out="f16"))
    return k


@case
def grad_sqrtsoftplus_groups_dynamic():
    """sqrtsoftplus with a grouped selection (E=160, 5 groups keep 2,
    K=6): routing gradient with normalize and scale 2, balance loss over
    sequences of 10 (T = 45), normalized scores."""
    k = TrainKernel("grad_sqrtsoftplus_groups_dynamic",
                    grad_sqrtsoftplus_groups_dynamic.__doc__)
    rng = rng_for(123)
    T, E, K = 45, 160, 6
    xv = _logits(rng, T, E, 1.5)
    x = k.arg("x", xv, "f32", dyn=True)
    i = k.arg("i", _indices(rng, xv, "sqrtsoftplus", K, "f32", 5, 2), "i64", dyn=True)
    dw = k.arg("dw", _dw(rng, T, K), "f32", dyn=True)
    dl = k.scalar_arg("dl", 100.0)
    g = k.route_grad("sqrtsoftplus", x, i, dw, normalize=True, scale=2.0)
    a = k.aux_loss_grad("sqrtsoftplus", x, i, dl, seq_len=10, normalize=True)
    k.ret(k.addf(g, a), k.aux_loss("sqrtsoftplus", x, i, seq_len=10, normalize=True))
    return k


@case
def route_grad_bf16_result_dynamic():
    """The routing gradient alone, rounded once to bf16 (the logits' type),
    for each score function."""
    k = TrainKernel("route_grad_bf16_result_dynamic",
                    route_grad_bf16_result_dynamic.__doc__)
    rng = rng_for(124)
    T, E, K = 19, 72, 4
    xv = _logits(rng, T, E)
    x = k.arg("x", xv, "bf16", dyn=True)
    i = k.arg("i", _indices(rng, xv, "sigmoid", K, "bf16"), "i32", dyn=True)
    dw = k.arg("dw", _dw(rng, T, K) * 4, "f32", dyn=True)
    k.ret(k.route_grad("sigmoid", x, i, dw, normalize=True, scale=2.5, out="bf16"),
          k.route_grad("softmax", x, i, dw, out="bf16"),
          k.route_grad("sqrtsoftplus", x, i, dw, normalize=True, out="bf16"))
    return k


@case
def grad_invalid_indices_zero_sum_dynamic():
    """Indices -1 and >= E are skipped (not counted, no gradient); a token
    whose valid chosen scores sum to 0 (logits -inf under sqrtsoftplus and
    sigmoid) has a zero routing gradient; a token without valid pairs too."""
    k = TrainKernel("grad_invalid_indices_zero_sum_dynamic",
                    grad_invalid_indices_zero_sum_dynamic.__doc__)
    rng = rng_for(125)
    T, E, K = 12, 20, 3
    xv = _logits(rng, T, E)
    iv = np.stack([rng.permutation(E)[:K] for _ in range(T)]).astype(np.int64)
    iv[1, 0], iv[2, 2], iv[3, 1] = -1, E, 1000
    iv[4] = [-1, -7, E]                        # no valid pair
    iv[5] = [3, 7, 11]
    xv[5, [3, 7, 11]] = -np.inf                # the chosen scores are all 0
    xv[6, :] = -np.inf                         # a row of zero scores
    iv[6] = [0, 5, -1]
    x = k.arg("x", xv, "f32", dyn=True)
    i = k.arg("i", iv, "i64", dyn=True)
    dw = k.arg("dw", _dw(rng, T, K), "f32", dyn=True)
    dl = k.scalar_arg("dl", 10.0)
    for fn in ("sqrtsoftplus", "sigmoid"):
        g = k.route_grad(fn, x, i, dw, normalize=True, scale=1.5)
        a = k.aux_loss_grad(fn, x, i, dl, seq_len=5, normalize=True)
        k.ret(k.addf(g, a), k.aux_loss(fn, x, i, seq_len=5, normalize=True))
    return k


@case
def route_grad_nan_logits_dynamic():
    """NaN logits: a NaN score makes its own gradient NaN (0 * NaN) and, in
    a chosen expert under normalize, those of all chosen experts of its row
    (the sum S is NaN); +-inf logits have finite gradients. Sigmoid and
    sqrtsoftplus, alone and with the balance loss."""
    k = TrainKernel("route_grad_nan_logits_dynamic",
                    route_grad_nan_logits_dynamic.__doc__)
    rng = rng_for(128)
    T, E, K = 6, 24, 3
    xv = _logits(rng, T, E)
    iv = np.stack([rng.permutation(E)[:K] for _ in range(T)]).astype(np.int64)
    free = [e for e in range(E) if e not in iv[0]]
    xv[0, free[0]] = np.nan                    # not chosen: only dx[0, e] is NaN
    xv[1, iv[1, 1]] = np.nan                   # chosen
    xv[2, iv[2, 0]], xv[2, iv[2, 1]] = np.inf, -np.inf
    x = k.arg("x", xv, "f32", dyn=True)
    i = k.arg("i", iv, "i32", dyn=True)
    dw = k.arg("dw", _dw(rng, T, K), "f32", dyn=True)
    dl = k.scalar_arg("dl", 5.0)
    k.ret(k.route_grad("sigmoid", x, i, dw, normalize=True),
          k.route_grad("sqrtsoftplus", x, i, dw, scale=2.0),
          k.route_grad("sigmoid", x, i, dw, out="f32", scale=0.5))
    g = k.route_grad("sqrtsoftplus", x, i, dw, normalize=True)
    a = k.aux_loss_grad("sqrtsoftplus", x, i, dl, seq_len=4)
    k.ret(k.addf(g, a))
    return k


@case
def grad_k1_dynamic():
    """K = 1: with normalize the routing gradient is exactly 0 (the weight is
    always scale); without it, scale * dw flows to the one chosen expert."""
    k = TrainKernel("grad_k1_dynamic", grad_k1_dynamic.__doc__)
    rng = rng_for(126)
    T, E, K = 17, 32, 1
    xv = _logits(rng, T, E)
    x = k.arg("x", xv, "f32", dyn=True)
    i = k.arg("i", _indices(rng, xv, "sigmoid", K, "f32"), "i32", dyn=True)
    dw = k.arg("dw", _dw(rng, T, K), "f32", dyn=True)
    dl = k.scalar_arg("dl", 10.0)
    g = k.route_grad("sigmoid", x, i, dw, normalize=True)
    a = k.aux_loss_grad("sigmoid", x, i, dl, seq_len=4)
    k.ret(k.addf(g, a), k.route_grad("sigmoid", x, i, dw, scale=3.0),
          k.aux_loss("sigmoid", x, i, seq_len=4))
    return k


@case
def grad_empty_dynamic():
    """T = 0 (dynamic): empty gradients and a zero loss."""
    k = TrainKernel("grad_empty_dynamic", grad_empty_dynamic.__doc__)
    T, E, K = 0, 16, 2
    x = k.arg("x", np.zeros((T, E), dtype=F32), "bf16", dyn=True)
    i = k.arg("i", np.zeros((T, K), dtype=np.int64), "i32", dyn=True)
    dw = k.arg("dw", np.zeros((T, K), dtype=F32), "f32", dyn=True)
    dl = k.scalar_arg("dl", 1.0)
    g = k.route_grad("softmax", x, i, dw, normalize=True)
    a = k.aux_loss_grad("softmax", x, i, dl, seq_len=4, normalize=True)
    k.ret(k.rows(k.addf(g, a)), k.rows(k.route_grad("sigmoid", x, i, dw, out="bf16")),
          k.aux_loss("sigmoid", x, i), k.aux_loss("softmax", x, i, seq_len=3))
    return k


@case
def aux_loss_only_dynamic():
    """The balance loss and its gradient alone (no routing gradient to fuse
    with), sigmoid and softmax, i64 indices, seq_len 7 over T = 30."""
    k = TrainKernel("aux_loss_only_dynamic", aux_loss_only_dynamic.__doc__)
    rng = rng_for(127)
    T, E, K = 30, 40, 5
    xv = _logits(rng, T, E)
    x = k.arg("x", xv, "f32", dyn=True)
    i = k.arg("i", _indices(rng, xv, "sigmoid", K, "f32"), "i64", dyn=True)
    dl = k.scalar_arg("dl", 40.0)
    k.ret(k.aux_loss_grad("sigmoid", x, i, dl, seq_len=7),
          k.aux_loss_grad("softmax", x, i, dl, seq_len=7, normalize=True),
          k.aux_loss("sigmoid", x, i, seq_len=7),
          k.aux_loss("softmax", x, i, seq_len=7, normalize=True))
    return k


@case
def grad_duplicate_indices_dynamic():
    """Repeated experts in a row (the indices are an input; nothing forbids
    them): the gradients of the pairs on one expert add up, and each pair
    counts in the balance loss. E = 96 puts experts l, l + 32 and l + 64 in
    one lane of a GPU warp."""
    k = TrainKernel("grad_duplicate_indices_dynamic",
                    grad_duplicate_indices_dynamic.__doc__)
    rng = rng_for(129)
    T, E, K = 21, 96, 5
    xv = _logits(rng, T, E)
    iv = np.stack([rng.permutation(E)[:K] for _ in range(T)]).astype(np.int64)
    iv[0] = [7, 7, 7, 39, 71]                  # an expert thrice, one lane
    iv[1, 3] = iv[1, 0]
    iv[2] = [95, 95, -1, 95, 0]                # with an invalid pair
    iv[3::2, 4] = iv[3::2, 1]
    x = k.arg("x", xv, "f32", dyn=True)
    i = k.arg("i", iv, "i32", dyn=True)
    dw = k.arg("dw", _dw(rng, T, K), "f32", dyn=True)
    dl = k.scalar_arg("dl", 30.0)
    for fn in ("softmax", "sigmoid"):
        g = k.route_grad(fn, x, i, dw, normalize=True, scale=2.0)
        a = k.aux_loss_grad(fn, x, i, dl, seq_len=8, normalize=True)
        k.ret(k.addf(g, a), k.aux_loss(fn, x, i, seq_len=8))
    k.ret(k.route_grad("sqrtsoftplus", x, i, dw, scale=1.5))
    return k


@case
def aux_loss_long_sequence_dynamic():
    """Sequences of more than 4096 pairs (T = 530, K = 8): the GPU counts a
    sequence in several blocks. One sequence, then sequences of 520 rows (the
    second has 10), with the routing gradient fused in."""
    k = TrainKernel("aux_loss_long_sequence_dynamic",
                    aux_loss_long_sequence_dynamic.__doc__)
    rng = rng_for(130)
    T, E, K = 530, 32, 8
    xv = _logits(rng, T, E)
    x = k.arg("x", xv, "f32", dyn=True)
    i = k.arg("i", _indices(rng, xv, "sigmoid", K, "f32"), "i32", dyn=True)
    dw = k.arg("dw", _dw(rng, T, K), "f32", dyn=True)
    dl = k.scalar_arg("dl", 1000.0)
    g = k.route_grad("sigmoid", x, i, dw, normalize=True)
    a = k.aux_loss_grad("sigmoid", x, i, dl, normalize=True)
    k.ret(k.addf(g, a), k.aux_loss("sigmoid", x, i),
          k.aux_loss_grad("sigmoid", x, i, dl, seq_len=520),
          k.aux_loss("sigmoid", x, i, seq_len=520, normalize=True))
    return k


def build(name):
    if name not in CASES:
        raise SystemExit("unknown case %r (see `moe_ref_train.py list`)" % name)
    return CASES[name]()


# ---------------------------------------------------------------------------
# Self-test
# ---------------------------------------------------------------------------


def _close(got, exp, what, rtol, atol):
    got, exp = np.asarray(got, dtype=float), np.asarray(exp, dtype=float)
    if got.shape != exp.shape or not np.allclose(got, exp, rtol=rtol, atol=atol):
        err = np.max(np.abs(got - exp)) if got.shape == exp.shape else None
        raise AssertionError("%s: max |diff| %s\ngot %s\nexpected %s"
                             % (what, err, got.tolist(), exp.tolist()))


def _selftest_inputs(rng, T=6, E=8, K=3):
    x = rng.normal(0.0, 1.5, size=(T, E))
    idx = np.stack([rng.permutation(E)[:K] for _ in range(T)]).astype(np.int64)
    idx[1, 2], idx[3, 0] = -1, E        # invalid pairs are skipped
    dw = rng.normal(0.0, 1.0, size=(T, K))
    return x, idx, dw


def selftest_finite_differences():
    """Every gradient against central differences of its forward."""
    rng = rng_for(7)
    n = 0
    for fn in ("sigmoid", "softmax", "sqrtsoftplus"):
        x, idx, dw = _selftest_inputs(rng)
        for normalize in (False, True):
            for scale in (1.0, 2.5):
                g = route_grad(x, fn, idx, dw, normalize, scale)
                fd = central_difference(
                    lambda z: np.sum(route_weights64(z, fn, idx, normalize, scale) * dw), x)
                _close(g, fd, "route_grad %s normalize=%s scale=%s vs finite differences"
                       % (fn, normalize, scale), 1e-6, 1e-7)
                n += 1
            for seq_len in (None, 2, 4, 6, 7):
                dl = 1.7
                a = aux_loss_grad(x, fn, idx, dl, seq_len, normalize)
                fd = central_difference(
                    lambda z: dl * aux_loss(z, fn, idx, seq_len, normalize), x)
                _close(a, fd, "aux_loss_grad %s seq_len=%s normalize=%s vs finite "
                       "differences" % (fn, seq_len, normalize), 1e-6, 1e-7)
                n += 1
    return n


def selftest_torch():
    """Every gradient (and the loss) against PyTorch autograd, float64."""
    try:
        import torch  # noqa: F401
    except ImportError:
        print("selftest: torch not available, autograd comparison skipped")
        return 0
    rng = rng_for(8)
    n = 0
    for fn in ("sigmoid", "softmax", "sqrtsoftplus"):
        x, idx, dw = _selftest_inputs(rng, T=9, E=16, K=4)
        # A repeated valid expert: both pairs' gradients add up (gather's
        # backward), as in the reference.
        idx[5, 1] = idx[5, 0]
        for normalize in (False, True):
            for scale in (1.0, 2.5):
                _close(route_grad(x, fn, idx, dw, normalize, scale),
                       torch_route_grad(x, fn, idx, dw, normalize, scale),
                       "route_grad %s normalize=%s scale=%s vs torch"
                       % (fn, normalize, scale), 1e-10, 1e-12)
                n += 1
            for seq_len in (None, 3, 4, 9, 20):
                dl = -0.6
                loss, grad = torch_aux_loss_grad(x, fn, idx, dl, seq_len, normalize)
                _close(aux_loss(x, fn, idx, seq_len, normalize), loss,
                       "aux_loss %s seq_len=%s normalize=%s vs torch"
                       % (fn, seq_len, normalize), 1e-12, 1e-14)
                _close(aux_loss_grad(x, fn, idx, dl, seq_len, normalize), grad,
                       "aux_loss_grad %s seq_len=%s normalize=%s vs torch"
                       % (fn, seq_len, normalize), 1e-10, 1e-12)
                n += 2
    return n


def selftest_examples():
    """Hand-computed values and the contract's special cases."""
    # Two tokens, E = 2, K = 1, both on expert 0, zero logits: s = 0.5,
    # f = (E * 2 / (K * 2), 0) = (2, 0), P = (0.5, 0.5): loss = 1; with
    # normalize p = 0.5 as well. Per sequence of 1: the same.
    x = np.zeros((2, 2))
    idx = np.array([[0], [0]])
    for seq_len in (None, 1):
        for normalize in (False, True):
            _close(aux_loss(x, "sigmoid", idx, seq_len, normalize), 1.0,
                   "aux_loss example", 0, 1e-15)
    # Its gradient: dp = dl * f / (B * T_b) = (1, 0) for B = 1, T_b = 2 and
    # dl = 1; sigmoid'(0) = 1/4.
    _close(aux_loss_grad(x, "sigmoid", idx, 1.0), [[0.25, 0.0], [0.25, 0.0]],
           "aux_loss_grad example", 0, 1e-15)
    # Without normalize, g = scale * dw on the chosen experts.
    _close(route_grad(x, "sigmoid", idx, np.array([[2.0], [-1.0]]), False, 3.0),
           [[1.5, 0.0], [-0.75, 0.0]], "route_grad example", 0, 1e-15)
    # K = 1 with normalize: the weight is the constant scale, gradient 0.
    _close(route_grad(x + 0.3, "softmax", idx, np.ones((2, 1)), True, 2.0),
           np.zeros((2, 2)), "route_grad K = 1 normalize", 0, 1e-15)
    # A zero weight sum (chosen logits -inf) leaves the row 0, for every
    # score function that can reach 0.
    xz = np.array([[-np.inf, -np.inf, 0.5]])
    for fn in ("sigmoid", "sqrtsoftplus"):
        _close(route_grad(xz, fn, np.array([[0, 1]]), np.array([[1.0, 2.0]]), True),
               np.zeros((1, 3)), "route_grad zero sum " + fn, 0, 0)
    # T = 0.
    e = np.zeros((0, 4))
    i0 = np.zeros((0, 2), dtype=np.int64)
    assert aux_loss(e, "sigmoid", i0, 3) == 0.0
    assert aux_loss_grad(e, "softmax", i0, 1.0, None, True).shape == (0, 4)
    assert route_grad(e, "sigmoid", i0, np.zeros((0, 2)), True).shape == (0, 4)
    # Sequences: seq_len dividing T and not.
    assert sequences(6, 3) == [(0, 3), (3, 6)]
    assert sequences(7, 3) == [(0, 3), (3, 6), (6, 7)]
    assert sequences(5, None) == [(0, 5)] and sequences(0, None) == []
    return 11


def selftest():
    n = selftest_examples()
    n += selftest_finite_differences()
    n += selftest_torch()
    print("selftest: %d checks passed" % n)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def main(argv):
    def run_selftest():
        selftest()
        return 0
    return moe_ref.run_cli(argv, "moe_ref_train.py", CASES, build, compare,
                           {"selftest": run_selftest})


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(1)

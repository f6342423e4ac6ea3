"""Unit tests of moe_mlir.torch against plain PyTorch autograd of the same
math (run by test/Python/torch-api.test)."""

import math
import os
import tempfile
import unittest

import torch
import torch.nn.functional as F

import moe_mlir.torch as mt
from moe_mlir import _compiler

#===----------------------------------------------------------------------===#
# Reference: the contract's math in plain PyTorch (f32, autograd)
#===----------------------------------------------------------------------===#


def ref_score(x, score):
    x = x.float()
    if score == "sigmoid":
        return torch.sigmoid(x)
    if score == "softmax":
        return torch.softmax(x, -1)
    return torch.sqrt(F.softplus(x))


def ref_route(x, bias, k, score="sigmoid", num_groups=1, topk_groups=None,
              group_top=None, normalize=False, scale=1.0):
    """(weights, indices int64, counts) with weights differentiable in x."""
    s = ref_score(x, score)
    t, e = s.shape
    key = s.detach() + (bias if bias is not None else 0)
    if num_groups > 1:
        per = e // num_groups
        top = group_top or (1 if per == 1 else 2)
        grouped = key.view(t, num_groups, per)
        gscore = grouped.topk(top, -1).values.sum(-1)
        keep = gscore.topk(topk_groups or num_groups, -1).indices
        mask = torch.zeros(t, num_groups, dtype=torch.bool)
        mask.scatter_(1, keep, True)
        key = key.masked_fill(~mask.repeat_interleave(per, 1), -math.inf)
    idx = key.topk(k, -1).indices
    w = s.gather(1, idx)
    w = scale * w / w.sum(-1, keepdim=True) if normalize else scale * w
    counts = torch.bincount(idx.flatten(), minlength=e)
    return w, idx, counts


def ref_aux_loss(x, idx, score="sigmoid", seq_len=None, normalize=False):
    s = ref_score(x, score)
    t, e = s.shape
    k = idx.shape[1]
    p = s / s.sum(-1, keepdim=True) if normalize else s
    if t == 0:
        return (p.sum() * 0).reshape(())
    length = seq_len or t
    losses = []
    for start in range(0, t, length):
        rows = slice(start, min(start + length, t))
        tb = rows.stop - rows.start
        i = idx[rows].flatten().long()
        i = i[(i >= 0) & (i < e)]
        f = e * torch.bincount(i, minlength=e).float() / (k * tb)
        losses.append((f * p[rows].mean(0)).sum())
    return torch.stack(losses).mean()


def ref_update_bias(b, c, rate, rule, center):
    c = c.float()
    err = c.mean(-1, keepdim=True) - c
    delta = rate * (torch.sign(err) if rule == "sign" else err)
    if center:
        delta = delta - delta.mean(-1, keepdim=True)
    return b + delta


def ref_imbalance(c):
    c = c.double()
    mean = c.sum() / c.numel()
    return 0.0 if c.sum() == 0 else float((c.max() - mean) / mean)


def tol(dtype):
    return {torch.float32: (1e-5, 1e-6), torch.float16: (1e-2, 1e-3),
            torch.bfloat16: (2e-2, 1e-2)}[dtype]


class RouteTest(unittest.TestCase):
    def check(self, t, e, k, dtype=torch.float32, use_bias=True, seed=0, **kw):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(t, e, generator=g).to(dtype)
        bias = 0.05 * torch.randn(e, generator=g) if use_bias else None
        dw = torch.randn(t, k, generator=g)
        xa = x.clone().requires_grad_(True)
        w, i, c = mt.route(xa, bias, k, **kw)
        self.assertEqual((w.dtype, i.dtype, c.dtype), (torch.float32, torch.int32, torch.int32))
        self.assertEqual((tuple(w.shape), tuple(i.shape), tuple(c.shape)), ((t, k), (t, k), (e,)))
        (w * dw).sum().backward()
        xr = x.clone().requires_grad_(True)
        rw, ri, rc = ref_route(xr, bias, k, **kw)
        (rw * dw).sum().backward()
        self.assertTrue(torch.equal(i.long(), ri), "indices differ")
        self.assertTrue(torch.equal(c.long(), rc), "counts differ")
        torch.testing.assert_close(w, rw.detach(), rtol=1e-5, atol=1e-6)
        self.assertEqual(xa.grad.dtype, dtype)
        rtol, atol = tol(dtype)
        torch.testing.assert_close(xa.grad.float(), xr.grad.to(dtype).float(),
                                   rtol=rtol, atol=atol)

    def test_scores_normalize_scale(self):
        for score in ("sigmoid", "softmax", "sqrtsoftplus"):
            for normalize in (False, True):
                for scale in (1.0, 2.5):
                    with self.subTest(score=score, normalize=normalize, scale=scale):
                        self.check(37, 16, 4, score=score, normalize=normalize, scale=scale)

    def test_no_bias(self):
        self.check(33, 32, 6, use_bias=False, normalize=True)
        self.check(9, 8, 1, use_bias=False)

    def test_groups(self):
        self.check(41, 64, 6, num_groups=8, topk_groups=3, normalize=True, scale=2.5)
        self.check(41, 16, 4, num_groups=4, topk_groups=2, group_top=1, score="softmax")
        self.check(20, 8, 2, num_groups=8, topk_groups=4)

    def test_half_logits(self):
        for dtype in (torch.float16, torch.bfloat16):
            for normalize in (False, True):
                with self.subTest(dtype=dtype, normalize=normalize):
                    self.check(29, 16, 4, dtype=dtype, normalize=normalize, scale=2.0)

    def test_empty(self):
        for dtype in (torch.float32, torch.bfloat16):
            x = torch.zeros(0, 16, dtype=dtype, requires_grad=True)
            w, i, c = mt.route(x, torch.zeros(16), 4, normalize=True)
            self.assertEqual(tuple(w.shape), (0, 4))
            self.assertTrue(torch.equal(c, torch.zeros(16, dtype=torch.int32)))
            w.sum().backward()
            self.assertEqual(tuple(x.grad.shape), (0, 16))

    def test_non_contiguous_logits(self):
        x = torch.randn(16, 20).t()  # [20, 16], not contiguous
        self.assertFalse(x.is_contiguous())
        w, i, _ = mt.route(x, None, 3)
        rw, ri, _ = ref_route(x, None, 3)
        self.assertTrue(torch.equal(i.long(), ri))
        torch.testing.assert_close(w, rw)

    def test_dynamic_t_one_library(self):
        before = dict(_compiler.stats)
        for t in (1, 7, 130):
            self.check(t, 16, 2, seed=t, normalize=True, scale=3.0)
        self.assertLessEqual(_compiler.stats["compiled"] + _compiler.stats["disk_hits"]
                             - before["compiled"] - before["disk_hits"], 1)


class AuxLossTest(unittest.TestCase):
    def check(self, t, e, k, dtype=torch.float32, index_dtype=torch.int32, seed=0, **kw):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(t, e, generator=g).to(dtype)
        idx = torch.randn(t, e, generator=g).topk(k, -1).indices.to(index_dtype)
        xa = x.clone().requires_grad_(True)
        loss = mt.aux_loss(xa, idx, **kw)
        self.assertEqual((loss.dtype, loss.dim()), (torch.float32, 0))
        (0.37 * loss).backward()
        xr = x.clone().requires_grad_(True)
        ref = ref_aux_loss(xr, idx, **kw)
        (0.37 * ref).backward()
        torch.testing.assert_close(loss, ref.detach(), rtol=1e-5, atol=1e-6)
        self.assertEqual(xa.grad.dtype, dtype)
        rtol, atol = tol(dtype)
        torch.testing.assert_close(xa.grad.float(), xr.grad.to(dtype).float(),
                                   rtol=rtol, atol=atol * 1e-2)

    def test_scores_and_sequences(self):
        for score in ("sigmoid", "softmax", "sqrtsoftplus"):
            for seq_len in (None, 8, 11):
                for normalize in (False, True):
                    with self.subTest(score=score, seq_len=seq_len, normalize=normalize):
                        self.check(40, 16, 4, score=score, seq_len=seq_len,
                                   normalize=normalize)

    def test_int64_indices_and_half_logits(self):
        self.check(24, 32, 6, index_dtype=torch.int64, seq_len=8, normalize=True)
        self.check(24, 16, 2, dtype=torch.bfloat16, seq_len=8, normalize=True)
        self.check(24, 16, 2, dtype=torch.float16)

    def test_invalid_indices_skipped(self):
        x = torch.randn(6, 8, requires_grad=True)
        idx = torch.tensor([[0, -1]] * 3 + [[8, 2]] * 3, dtype=torch.int32)
        mt.aux_loss(x, idx).backward()
        xr = x.detach().clone().requires_grad_(True)
        ref = ref_aux_loss(xr, idx)
        ref.backward()
        torch.testing.assert_close(mt.aux_loss(x, idx), ref.detach())
        torch.testing.assert_close(x.grad, xr.grad)

    def test_empty(self):
        x = torch.zeros(0, 16, requires_grad=True)
        loss = mt.aux_loss(x, torch.zeros(0, 2, dtype=torch.int32), seq_len=4)
        self.assertEqual(float(loss), 0.0)
        loss.backward()
        self.assertEqual(tuple(x.grad.shape), (0, 16))

    def test_route_and_aux_gradients_accumulate(self):
        g = torch.Generator().manual_seed(3)
        x = torch.randn(32, 16, generator=g)
        bias = 0.1 * torch.randn(16, generator=g)
        dw = torch.randn(32, 4, generator=g)
        xa = x.clone().requires_grad_(True)
        w, i, _ = mt.route(xa, bias, 4, normalize=True, scale=2.5)
        ((w * dw).sum() + 1e-1 * mt.aux_loss(xa, i, seq_len=8, normalize=True)).backward()
        xr = x.clone().requires_grad_(True)
        rw, ri, _ = ref_route(xr, bias, 4, normalize=True, scale=2.5)
        ((rw * dw).sum() + 1e-1 * ref_aux_loss(xr, ri, seq_len=8, normalize=True)).backward()
        torch.testing.assert_close(xa.grad, xr.grad, rtol=1e-5, atol=1e-6)


class BiasAndImbalanceTest(unittest.TestCase):
    def test_update_bias(self):
        g = torch.Generator().manual_seed(1)
        for shape in ((16,), (3, 16)):
            for dtype in (torch.int32, torch.int64, torch.float32):
                for rule in ("sign", "linear"):
                    for center in (False, True):
                        with self.subTest(shape=shape, dtype=dtype, rule=rule, center=center):
                            b = 0.01 * torch.randn(shape, generator=g)
                            c = torch.randint(0, 50, shape, generator=g).to(dtype)
                            got = mt.update_bias(b, c, 1e-3, rule=rule, center=center)
                            torch.testing.assert_close(
                                got, ref_update_bias(b, c, 1e-3, rule, center),
                                rtol=1e-5, atol=1e-7)

    def test_imbalance(self):
        for c in (torch.tensor([3, 1, 0, 4], dtype=torch.int32),
                  torch.tensor([5, 5, 5], dtype=torch.int64),
                  torch.tensor([0.5, 2.0, 1.5]),
                  torch.zeros(8, dtype=torch.int32)):
            with self.subTest(c=c):
                self.assertAlmostEqual(mt.imbalance(c), ref_imbalance(c), places=6)


class ErrorTest(unittest.TestCase):
    def test_route_errors(self):
        x = torch.randn(4, 8)
        cases = [
            (TypeError, "logits must be one of", lambda: mt.route(x.double(), None, 2)),
            (TypeError, "logits must be one of", lambda: mt.route(x.int(), None, 2)),
            (TypeError, "logits must be a torch.Tensor", lambda: mt.route([[1.0]], None, 1)),
            (ValueError, "rank 2", lambda: mt.route(torch.randn(8), None, 2)),
            (ValueError, "CPU", lambda: mt.route(torch.empty(4, 8, device="meta"), None, 2)),
            (TypeError, "bias must be float32", lambda: mt.route(x, torch.zeros(8).bfloat16(), 2)),
            (TypeError, "bias must be float32", lambda: mt.route(x, torch.zeros(8).double(), 2)),
            (ValueError, r"bias must have shape \[8\]", lambda: mt.route(x, torch.zeros(7), 2)),
            (ValueError, "k must be in", lambda: mt.route(x, None, 0)),
            (ValueError, "k must be in", lambda: mt.route(x, None, 9)),
            (TypeError, "k must be an int", lambda: mt.route(x, None, 2.0)),
            (ValueError, "score must be one of", lambda: mt.route(x, None, 2, score="relu")),
            (ValueError, "num_groups .* must divide", lambda: mt.route(x, None, 2, num_groups=3)),
            (ValueError, "topk_groups must be in",
             lambda: mt.route(x, None, 2, num_groups=4, topk_groups=5)),
            (ValueError, "group_top must be in",
             lambda: mt.route(x, None, 2, num_groups=4, group_top=3)),
            (ValueError, "k must be in", lambda: mt.route(x, None, 5, num_groups=4, topk_groups=2)),
            (ValueError, "scale must be finite", lambda: mt.route(x, None, 2, scale=float("inf"))),
        ]
        for exc, message, call in cases:
            with self.subTest(message=message):
                with self.assertRaisesRegex(exc, message):
                    call()

    def test_aux_loss_errors(self):
        x = torch.randn(4, 8)
        i = torch.zeros(4, 2, dtype=torch.int32)
        cases = [
            (TypeError, "indices must be one of", lambda: mt.aux_loss(x, i.float())),
            (ValueError, "as many rows", lambda: mt.aux_loss(x, i[:3])),
            (ValueError, "rank 2", lambda: mt.aux_loss(x, i[:, 0])),
            (ValueError, "seq_len must be in", lambda: mt.aux_loss(x, i, seq_len=0)),
            (TypeError, "logits must be one of", lambda: mt.aux_loss(x.double(), i)),
        ]
        for exc, message, call in cases:
            with self.subTest(message=message):
                with self.assertRaisesRegex(exc, message):
                    call()

    def test_bias_and_imbalance_errors(self):
        b = torch.zeros(8)
        c = torch.zeros(8, dtype=torch.int32)
        cases = [
            (TypeError, "bias must be float32", lambda: mt.update_bias(b.half(), c, 1e-3)),
            (ValueError, "counts must have the bias's shape",
             lambda: mt.update_bias(b, c[:4], 1e-3)),
            (TypeError, "counts must be one of", lambda: mt.update_bias(b, c.short(), 1e-3)),
            (ValueError, "rule must be one of", lambda: mt.update_bias(b, c, 1e-3, rule="x")),
            (TypeError, "rate must be a float", lambda: mt.update_bias(b, c, "fast")),
            (ValueError, "rank 1", lambda: mt.imbalance(c.view(2, 4))),
            (TypeError, "counts must be one of", lambda: mt.imbalance(c.double())),
        ]
        for exc, message, call in cases:
            with self.subTest(message=message):
                with self.assertRaisesRegex(exc, message):
                    call()


class CacheTest(unittest.TestCase):
    def test_second_call_hits_cache(self):
        saved = os.environ.get("MOE_MLIR_CACHE")
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["MOE_MLIR_CACHE"] = tmp
            try:
                x = torch.randn(5, 24)
                start = dict(_compiler.stats)
                # A configuration no other test uses, in a fresh cache.
                first = mt.route(x, None, 3, score="sqrtsoftplus",
                                 scale=1.25)
                self.assertEqual(_compiler.stats["compiled"], start["compiled"] + 1)
                libs = [f for _, _, files in os.walk(tmp) for f in files if f.endswith(".so")]
                self.assertEqual(len(libs), 1)
                second = mt.route(x, None, 3, score="sqrtsoftplus", scale=1.25)
                self.assertEqual(_compiler.stats["compiled"], start["compiled"] + 1)
                self.assertEqual(_compiler.stats["memory_hits"], start["memory_hits"] + 1)
                # A new process would find it on disk.
                _compiler._loaded.clear()
                third = mt.route(x, None, 3, score="sqrtsoftplus", scale=1.25)
                self.assertEqual(_compiler.stats["compiled"], start["compiled"] + 1)
                self.assertEqual(_compiler.stats["disk_hits"], start["disk_hits"] + 1)
                for other in (second, third):
                    self.assertTrue(all(torch.equal(a, b) for a, b in zip(first, other)))
            finally:
                _compiler._loaded.clear()
                if saved is None:
                    del os.environ["MOE_MLIR_CACHE"]
                else:
                    os.environ["MOE_MLIR_CACHE"] = saved

    def test_compile_error_is_reported(self):
        with self.assertRaisesRegex(_compiler.CompileError, "moe-opt failed"):
            _compiler.load("func.func @f() { moe.nonsense }")


if __name__ == "__main__":
    unittest.main()

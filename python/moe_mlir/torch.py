"""PyTorch front end of the moe dialect's routing and training ops.

Every function generates the MLIR of its configuration (score function,
shapes, dtypes, attributes), compiles it once through ``moe-opt
--moe-lower-to-cpu`` (see ``moe_mlir._compiler`` for the cache) and calls
the compiled function on the tensors' own memory through ranked memref
descriptors. Outputs are allocated with ``torch.empty`` and written in place
by the compiled code. Inputs must be CPU tensors; a non-contiguous input is
made contiguous first (the only copy), because the compiled functions take
identity-layout memrefs. The token count T is dynamic: one library serves
every T, including T = 0.

- ``route``: ``moe.route`` forward, ``moe.route_grad`` backward.
- ``aux_loss``: ``moe.aux_loss`` forward, ``moe.aux_loss_grad`` backward.
- ``update_bias``: ``moe.update_bias``.
- ``imbalance``: ``moe.imbalance`` (MaxVio).
"""

import ctypes
import math
import struct

import torch

from . import _compiler

__all__ = ["route", "aux_loss", "update_bias", "imbalance"]

_ELEMENT = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16",
            torch.int32: "i32", torch.int64: "i64"}
_LOGIT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_INDEX_DTYPES = (torch.int32, torch.int64)
_LOAD_DTYPES = (torch.int32, torch.int64, torch.float32)
_SCORES = ("sigmoid", "softmax", "sqrtsoftplus")
_RULES = ("sign", "linear")

#===----------------------------------------------------------------------===#
# Memref descriptors
#===----------------------------------------------------------------------===#

_descriptor_types = {}


def _descriptor_type(rank):
    cls = _descriptor_types.get(rank)
    if cls is None:
        fields = [("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p),
                  ("offset", ctypes.c_int64)]
        if rank:
            fields += [("sizes", ctypes.c_int64 * rank), ("strides", ctypes.c_int64 * rank)]
        cls = type(f"MemRef{rank}D", (ctypes.Structure,), {"_fields_": fields})
        _descriptor_types[rank] = cls
    return cls


def _memref(tensor):
    """A ranked memref descriptor (passed by reference) viewing a contiguous
    CPU tensor's memory."""
    assert tensor.is_contiguous()
    rank = tensor.dim()
    ptr = tensor.data_ptr()
    cls = _descriptor_type(rank)
    if not rank:
        return ctypes.byref(cls(ptr, ptr, 0))
    return ctypes.byref(cls(ptr, ptr, 0, (ctypes.c_int64 * rank)(*tensor.shape),
                            (ctypes.c_int64 * rank)(*tensor.stride())))


def _call(ir, name, *tensors, restype=None):
    fn = getattr(_compiler.load(ir), "_mlir_ciface_" + name)
    fn.restype = restype
    return fn(*[_memref(t) for t in tensors])

#===----------------------------------------------------------------------===#
# Argument checks
#===----------------------------------------------------------------------===#


def _tensor(name, value, dtypes, rank=None):
    """Checks a tensor argument; returns it contiguous."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if value.device.type != "cpu":
        raise ValueError(f"{name} must be on the CPU (moe_mlir.torch runs the CPU "
                         f"lowering), got device {value.device}")
    if value.dtype not in dtypes:
        raise TypeError(f"{name} must be one of "
                        f"{', '.join(str(d).replace('torch.', '') for d in dtypes)}, "
                        f"got {str(value.dtype).replace('torch.', '')}")
    if rank is not None and value.dim() not in (rank if isinstance(rank, tuple) else (rank,)):
        raise ValueError(f"{name} must have rank {rank}, got shape {tuple(value.shape)}")
    return value.contiguous()


def _int(name, value, low, high=None):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be in {bound}, got {value}")
    return value


def _choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, "
                         f"got {value!r}")
    return value


def _f32(name, value):
    """An MLIR f32 attribute value for a Python number (rounded to f32)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float, got {type(value).__name__}")
    value = struct.unpack("f", struct.pack("f", float(value)))[0]
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite in f32, got {value}")
    return f"{value:.9e} : f32"


def _logits(logits):
    logits = _tensor("logits", logits, _LOGIT_DTYPES, 2)
    if logits.shape[1] < 1:
        raise ValueError(f"logits must have at least one expert (shape [T, E]), "
                         f"got shape {tuple(logits.shape)}")
    return logits


def _memref_type(shape, dtype):
    dims = "x".join("?" if d is None else str(d) for d in shape)
    return f"memref<{dims}x{_ELEMENT[dtype]}>" if shape else f"memref<{_ELEMENT[dtype]}>"


def _attrs(entries):
    body = ", ".join(e for e in entries if e)
    return f" {{{body}}}" if body else ""

#===----------------------------------------------------------------------===#
# route
#===----------------------------------------------------------------------===#


def _route_ir(score, e, k, dtype, has_bias, num_groups, topk_groups, group_top,
              normalize, scale):
    x = _memref_type((None, e), dtype)
    b = _memref_type((e,), torch.float32)
    w = _memref_type((None, k), torch.float32)
    i = _memref_type((None, k), torch.int32)
    c = _memref_type((e,), torch.int32)
    dw = w
    attrs = _attrs([f"k = {k}",
                    f"num_groups = {num_groups}" if num_groups != 1 else "",
                    f"topk_groups = {topk_groups}" if topk_groups is not None else "",
                    f"group_top = {group_top}" if group_top is not None else "",
                    "normalize" if normalize else "", f"scale = {scale}"])
    grad_attrs = _attrs(["normalize" if normalize else "", f"scale = {scale}"])
    bias_arg = f"%b: {b}, " if has_bias else ""
    bias_use = f" bias(%b : {b})" if has_bias else ""
    return f"""\
// moe_mlir.torch.route: the forward and its backward.
func.func @route(%x: {x}, {bias_arg}%w: {w}, %i: {i}, %c: {c})
    attributes {{llvm.emit_c_interface}} {{
  moe.buffer.route {score} ins(%x : {x}){bias_use}
      outs(%w, %i, %c : {w}, {i}, {c}){attrs}
  return
}}

func.func @route_grad(%x: {x}, %i: {i}, %dw: {dw}, %dx: {x})
    attributes {{llvm.emit_c_interface}} {{
  moe.buffer.route_grad {score} ins(%x, %i, %dw : {x}, {i}, {dw})
      outs(%dx : {x}){grad_attrs}
  return
}}
"""


class _Route(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, bias, ir, k):
        t, e = logits.shape
        weights = torch.empty((t, k), dtype=torch.float32)
        indices = torch.empty((t, k), dtype=torch.int32)
        counts = torch.empty((e,), dtype=torch.int32)
        tensors = (logits,) + ((bias,) if bias is not None else ()) + (weights, indices, counts)
        _call(ir, "route", *tensors)
        ctx.ir = ir
        ctx.save_for_backward(logits, indices)
        ctx.mark_non_differentiable(indices, counts)
        return weights, indices, counts

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_weights, grad_indices, grad_counts):
        if grad_weights is None or not ctx.needs_input_grad[0]:
            return None, None, None, None
        logits, indices = ctx.saved_tensors
        grad_weights = grad_weights.to(torch.float32).contiguous()
        dx = torch.empty_like(logits, memory_format=torch.contiguous_format)
        _call(ctx.ir, "route_grad", logits, indices, grad_weights, dx)
        return dx, None, None, None


def route(logits, bias, k, *, score="sigmoid", num_groups=1, topk_groups=None,
          group_top=None, normalize=False, scale=1.0):
    """``moe.route``: scores, biased (group-limited) top-k, optional
    renormalisation and scale, and the per-expert counts.

    logits: [T, E] float32, float16 or bfloat16 (T may be 0); bias: None or
    float32 [E] (it steers the choice only and gets no gradient). Returns
    (weights float32 [T, k], indices int32 [T, k], counts int32 [E]); the
    weights are differentiable with respect to the logits (``moe.route_grad``;
    the gradient has the logits' dtype).
    """
    logits = _logits(logits)
    e = logits.shape[1]
    if bias is not None:
        if not isinstance(bias, torch.Tensor):
            raise TypeError(f"bias must be None or a torch.Tensor, got {type(bias).__name__}")
        if bias.dtype != torch.float32:
            raise TypeError(f"bias must be float32 (a lower-precision bias changes which "
                            f"experts win), got {str(bias.dtype).replace('torch.', '')}")
        bias = _tensor("bias", bias, (torch.float32,), 1)
        if bias.shape[0] != e:
            raise ValueError(f"bias must have shape [{e}] (one entry per expert of the "
                             f"logits), got {tuple(bias.shape)}")
        bias = bias.detach()
    _choice("score", score, _SCORES)
    _int("num_groups", num_groups, 1, e)
    if e % num_groups:
        raise ValueError(f"num_groups ({num_groups}) must divide the number of "
                         f"experts ({e})")
    per_group = e // num_groups
    if topk_groups is not None:
        _int("topk_groups", topk_groups, 1, num_groups)
    if group_top is not None:
        _int("group_top", group_top, 1, per_group)
    _int("k", k, 1, (topk_groups or num_groups) * per_group)
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize must be a bool, got {type(normalize).__name__}")
    ir = _route_ir(score, e, k, logits.dtype, bias is not None, num_groups, topk_groups,
                   group_top, normalize, _f32("scale", scale))
    return _Route.apply(logits, bias, ir, k)

#===----------------------------------------------------------------------===#
# aux_loss
#===----------------------------------------------------------------------===#


def _aux_ir(score, e, k, dtype, index_dtype, seq_len, normalize):
    x = _memref_type((None, e), dtype)
    i = _memref_type((None, k), index_dtype)
    s = _memref_type((), torch.float32)
    dx = _memref_type((None, e), torch.float32)
    attrs = _attrs([f"seq_len = {seq_len}" if seq_len is not None else "",
                    "normalize" if normalize else ""])
    return f"""\
// moe_mlir.torch.aux_loss: the forward and its backward.
func.func @aux_loss(%x: {x}, %i: {i}, %l: {s}) attributes {{llvm.emit_c_interface}} {{
  moe.buffer.aux_loss {score} ins(%x, %i : {x}, {i}) outs(%l : {s}){attrs}
  return
}}

func.func @aux_loss_grad(%x: {x}, %i: {i}, %dl: {s}, %dx: {dx})
    attributes {{llvm.emit_c_interface}} {{
  moe.buffer.aux_loss_grad {score} ins(%x, %i, %dl : {x}, {i}, {s})
      outs(%dx : {dx}){attrs}
  return
}}
"""


class _AuxLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, indices, ir):
        loss = torch.empty((), dtype=torch.float32)
        _call(ir, "aux_loss", logits, indices, loss)
        ctx.ir = ir
        ctx.save_for_backward(logits, indices)
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_loss):
        if grad_loss is None or not ctx.needs_input_grad[0]:
            return None, None, None
        logits, indices = ctx.saved_tensors
        dl = grad_loss.to(torch.float32).reshape(()).contiguous()
        dx = torch.empty(logits.shape, dtype=torch.float32)
        _call(ctx.ir, "aux_loss_grad", logits, indices, dl, dx)
        # moe.aux_loss_grad yields f32; f16/bf16 logits get a rounded copy.
        return dx.to(logits.dtype), None, None


def aux_loss(logits, indices, *, score="sigmoid", seq_len=None, normalize=False):
    """``moe.aux_loss``: the sequence-wise balance loss (batch-wise when
    ``seq_len`` is None: one sequence of all T rows), a float32 scalar,
    differentiable with respect to the logits (``moe.aux_loss_grad``).

    logits: [T, E] float32, float16 or bfloat16; indices: [T, K] int32 or
    int64 (entries outside [0, E) are skipped). Multiply by the coefficient
    (DeepSeek-V3: 1e-4) yourself.
    """
    logits = _logits(logits)
    indices = _tensor("indices", indices, _INDEX_DTYPES, 2)
    if indices.shape[0] != logits.shape[0]:
        raise ValueError(f"indices must have as many rows as the logits "
                         f"({logits.shape[0]}), got shape {tuple(indices.shape)}")
    if indices.shape[1] < 1:
        raise ValueError("indices must have at least one column (shape [T, K])")
    _choice("score", score, _SCORES)
    if seq_len is not None:
        _int("seq_len", seq_len, 1)
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize must be a bool, got {type(normalize).__name__}")
    ir = _aux_ir(score, logits.shape[1], indices.shape[1], logits.dtype, indices.dtype,
                 seq_len, normalize)
    return _AuxLoss.apply(logits, indices.detach(), ir)

#===----------------------------------------------------------------------===#
# update_bias and imbalance
#===----------------------------------------------------------------------===#


def update_bias(bias, counts, rate, rule="sign", center=False):
    """``moe.update_bias``: the auxiliary-loss-free bias update. bias: float32
    [E] or [L, E] (one row per layer); counts: int32, int64 or float32 of the
    same shape. Returns the new bias (a new tensor; no gradient)."""
    if isinstance(bias, torch.Tensor) and bias.dtype != torch.float32:
        raise TypeError(f"bias must be float32, got {str(bias.dtype).replace('torch.', '')}")
    bias = _tensor("bias", bias, (torch.float32,), (1, 2)).detach()
    counts = _tensor("counts", counts, _LOAD_DTYPES, (1, 2)).detach()
    if counts.shape != bias.shape:
        raise ValueError(f"counts must have the bias's shape {tuple(bias.shape)}, "
                         f"got {tuple(counts.shape)}")
    if bias.shape[-1] < 1:
        raise ValueError("bias must have at least one expert")
    _choice("rule", rule, _RULES)
    if not isinstance(center, bool):
        raise TypeError(f"center must be a bool, got {type(center).__name__}")
    b = _memref_type(tuple(bias.shape), torch.float32)
    c = _memref_type(tuple(counts.shape), counts.dtype)
    attrs = _attrs([f"rate = {_f32('rate', rate)}", "center" if center else ""])
    ir = f"""\
// moe_mlir.torch.update_bias
func.func @update_bias(%b: {b}, %c: {c}, %o: {b}) attributes {{llvm.emit_c_interface}} {{
  moe.buffer.update_bias {rule} ins(%b, %c : {b}, {c}) outs(%o : {b}){attrs}
  return
}}
"""
    out = torch.empty_like(bias, memory_format=torch.contiguous_format)
    _call(ir, "update_bias", bias, counts, out)
    return out


def imbalance(counts):
    """``moe.imbalance``: MaxVio = (max_e c[e] - mean) / mean of counts
    [E] (int32, int64 or float32); 0 when all counts are 0. A Python float."""
    counts = _tensor("counts", counts, _LOAD_DTYPES, 1).detach()
    if counts.shape[0] < 1:
        raise ValueError("counts must have at least one expert")
    c = _memref_type(tuple(counts.shape), counts.dtype)
    ir = f"""\
// moe_mlir.torch.imbalance
func.func @imbalance(%c: {c}) -> f32 attributes {{llvm.emit_c_interface}} {{
  %v = moe.buffer.imbalance ins(%c : {c}) -> f32
  return %v : f32
}}
"""
    return float(_call(ir, "imbalance", counts, restype=ctypes.c_float))

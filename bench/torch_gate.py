"""The DeepSeek-V3 / Kimi K2 routing gate written plainly in PyTorch: the
baseline of the CPU and GPU benchmarks (bench/cpu, bench/gpu)."""

import torch


def gate(logits, bias, k, groups, keep, scale):
    """Sigmoid scores; the bias added for the choice only; with groups > 1,
    group scores from the 2 best biased scores, the `keep` best groups kept
    and the others masked to -inf; top-k; unbiased weights renormalised and
    scaled; tokens per expert. Returns (weights, indices, counts)."""
    scores = torch.sigmoid(logits.float())
    keys = scores + bias
    if groups > 1:
        t, e = keys.shape
        grouped = keys.view(t, groups, e // groups)
        group_scores = grouped.topk(2, dim=-1).values.sum(-1)
        kept = group_scores.topk(keep, dim=-1).indices
        mask = torch.zeros(t, groups, dtype=torch.bool, device=keys.device)
        mask.scatter_(1, kept, True)
        keys = keys.masked_fill(~mask.repeat_interleave(e // groups, 1), float("-inf"))
    indices = keys.topk(k, dim=-1).indices
    weights = scores.gather(1, indices)
    weights = scale * weights / weights.sum(-1, keepdim=True)
    counts = torch.bincount(indices.flatten(), minlength=scores.shape[1])
    return weights, indices, counts


def update_bias(bias, counts, rate):
    """The auxiliary-loss-free sign update: bias + rate * sign(mean - counts)."""
    mean = counts.sum().float() / counts.shape[0]
    return bias + rate * torch.sign(mean - counts.float())

//===- MoEOps.td - moe dialect operations ------------------*- tablegen -*-===//
//
// Tensor-level ops (the contract of ../shared/spec/moe-dialect.md) and their
// memref-level, destination-passing `moe.buffer.*` forms.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_IR_MOEOPS_TD
#define MOE_DIALECT_MOE_IR_MOEOPS_TD

include "moe/Dialect/MoE/IR/MoEBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/OpBase.td"

class MoE_Op<string mnemonic, list<Trait> traits = []>
    : Op<MoE_Dialect, mnemonic, traits>;

// Attributes shared by the selection ops (topk, route and their buffer forms).
defvar MoE_SelectionAttrs = (ins
  ConfinedAttr<I64Attr, [IntPositive]>:$k,
  DefaultValuedAttr<I64Attr, "1">:$num_groups,
  OptionalAttr<I64Attr>:$topk_groups,
  OptionalAttr<I64Attr>:$group_top
);

defvar MoE_SelectionDecls = [{
    /// The selection attributes with the contract's defaults applied.
    ::mlir::moe::SelectionConfig getSelectionConfig();
}];

defvar MoE_SelectionDoc = [{
    Attributes (i64): `k` (required, 1 <= k <= E), `num_groups` (default 1,
    divides E), `topk_groups` (default `num_groups`, in [1, num_groups]),
    `group_top` (default 2, or 1 when E / num_groups == 1; in
    [1, E / num_groups]); and k <= topk_groups * (E / num_groups).

    Per token t, with key[e] = s[t, e] + bias[e] (key = s without a bias):
    1. With num_groups = G > 1, group g holds experts [g*E/G, (g+1)*E/G); its
       score is the sum of its `group_top` largest keys (NaN keys count as
       -inf). The `topk_groups` best groups are kept; experts of the other
       groups are excluded from step 2.
    2. The K best keys among the remaining experts are chosen, best first.
    3. The weight of a chosen expert is its unbiased score s[t, e]: the bias
       steers the choice only.

    Ordering: a larger key ranks first, equal keys rank by the lower index,
    and NaN ranks below every number (-inf included), so the chosen indices
    of a token are distinct and in [0, E).
}];

//===----------------------------------------------------------------------===//
// Tensor ops
//===----------------------------------------------------------------------===//

def MoE_ScoreOp : MoE_Op<"score", [Pure]> {
  let summary = "router logits to scores";
  let description = [{
    Applies the score function to router logits of shape [T, E] (T may be
    dynamic, E is static) and returns f32 scores of the same shape:
    `sigmoid` is 1 / (1 + exp(-x)), `softmax` is exp(x - rowmax) / sum over
    the expert dimension, and `sqrtsoftplus` is sqrt(log(1 + exp(x))),
    computed without overflow. Logits are f32, f16 or bf16; the math is f32.

    Example:

    ```mlir
    %s = moe.score sigmoid %logits : tensor<?x256xbf16> -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins MoE_ScoreFunction:$function, MoE_LogitTensor:$input);
  let results = (outs MoE_F32Tensor:$result);
  let assemblyFormat = [{
    $function $input attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

def MoE_TopKOp : MoE_Op<"topk", [Pure]> {
  let summary = "biased, optionally group-limited top-K expert selection";
  let description = !strconcat([{
    Chooses K experts per token from f32 scores [T, E] and an optional f32
    bias [E]. Returns the gate weights [T, K] (f32, unbiased scores) and the
    expert indices [T, K] (i32 or i64).

  }], MoE_SelectionDoc, [{

    Example:

    ```mlir
    %w, %i = moe.topk %s bias(%b) {k = 8, num_groups = 8, topk_groups = 4}
        : tensor<?x256xf32>, tensor<256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
    %w1, %i1 = moe.topk %s {k = 2} : tensor<?x64xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    ```
  }]);
  let arguments = !con((ins MoE_F32Tensor:$scores,
                            Optional<MoE_FloatTensor>:$bias),
                       MoE_SelectionAttrs);
  let results = (outs MoE_F32Tensor:$weights, MoE_IndexTensor:$indices);
  let assemblyFormat = [{
    $scores (`bias` `(` $bias^ `)`)? attr-dict `:` type($scores)
    (`,` type($bias)^)? `->` type($weights) `,` type($indices)
  }];
  let extraClassDeclaration = MoE_SelectionDecls;
  let hasVerifier = 1;
}

def MoE_NormalizeOp : MoE_Op<"normalize",
    [Pure, AllTypesMatch<["weights", "result"]>]> {
  let summary = "renormalise and scale gate weights";
  let description = [{
    `%wn[t, j] = scale * %w[t, j] / sum_j %w[t, j]` over the K weights of a
    token; a row whose sum is 0 stays 0. `scale` defaults to 1.0.

    Example:

    ```mlir
    %wn = moe.normalize %w {scale = 2.5 : f32} : tensor<?x8xf32>
    ```
  }];
  let arguments = (ins MoE_F32Tensor:$weights,
                       DefaultValuedAttr<MoE_F32Attr, "1.0f">:$scale);
  let results = (outs MoE_F32Tensor:$result);
  let assemblyFormat = "$weights attr-dict `:` type($weights)";
  let hasVerifier = 1;
}

def MoE_LoadOp : MoE_Op<"load", [Pure]> {
  let summary = "tokens per expert";
  let description = [{
    `%c[e]` is the number of pairs (t, j) with `%i[t, j] == e`, and `%mask[t]`
    true when a mask [T] is given (padding tokens are not counted). Indices
    outside [0, E), such as -1, are not counted. Counts are i32 or i64.

    Example:

    ```mlir
    %c = moe.load %i {num_experts = 256} : tensor<?x8xi32> -> tensor<256xi32>
    %c2 = moe.load %i mask(%valid) {num_experts = 256}
        : tensor<?x8xi32>, tensor<?xi1> -> tensor<256xi32>
    ```
  }];
  let arguments = (ins MoE_IndexTensor:$indices,
                       Optional<MoE_MaskTensor>:$mask,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_experts);
  let results = (outs MoE_IndexTensor:$counts);
  let assemblyFormat = [{
    $indices (`mask` `(` $mask^ `)`)? attr-dict `:` type($indices)
    (`,` type($mask)^)? `->` type($counts)
  }];
  let hasVerifier = 1;
}

def MoE_UpdateBiasOp : MoE_Op<"update_bias",
    [Pure, AllTypesMatch<["bias", "result"]>]> {
  let summary = "the auxiliary-loss-free expert bias update";
  let description = [{
    Moves the expert bias against the load. Per row (a rank-2 bias and load
    hold one row per MoE layer), with mean = sum(c) / E in f32 and
    err[e] = mean - c[e]:
    - `sign`: delta[e] = rate * sign(err[e]), with sign(0) = 0;
    - `linear`: delta[e] = rate * err[e];
    - `center`: delta[e] -= mean(delta), which keeps the mean bias fixed;
    - result[e] = bias[e] + delta[e].

    The load is i32, i64 or f32; the bias and the result are f32 and have the
    load's shape. With `rate = 0` the op folds to its bias.

    Example:

    ```mlir
    %b2 = moe.update_bias sign %b, %c {rate = 1.0e-03 : f32}
        : tensor<256xf32>, tensor<256xi32>
    %b3 = moe.update_bias linear %b, %c {rate = 1.0e-03 : f32, center}
        : tensor<4x256xf32>, tensor<4x256xf32>
    ```
  }];
  let arguments = (ins MoE_UpdateRule:$rule, MoE_FloatTensor:$bias,
                       MoE_LoadTensor:$load, MoE_F32Attr:$rate, UnitAttr:$center);
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $rule $bias `,` $load attr-dict `:` type($bias) `,` type($load)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def MoE_ImbalanceOp : MoE_Op<"imbalance", [Pure]> {
  let summary = "MaxVio: the relative excess of the most loaded expert";
  let description = [{
    Returns (max_e c[e] - mean) / mean with mean = sum(c) / E, and 0 when
    sum(c) == 0. The load is i32, i64 or f32 of shape [E]. A splat constant
    load folds to 0.

    Example:

    ```mlir
    %v = moe.imbalance %c : tensor<256xi32> -> f32
    ```
  }];
  let arguments = (ins MoE_LoadTensor:$load);
  let results = (outs F32:$result);
  let assemblyFormat = "$load attr-dict `:` type($load) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def MoE_RouteOp : MoE_Op<"route", [Pure]> {
  let summary = "the fused routing step: score, select, normalise, count";
  let description = !strconcat([{
    Exactly `moe.score` then `moe.topk` then, with the `normalize` unit
    attribute, `moe.normalize {scale}`, then `moe.load`, in one op. Without
    `normalize`, `scale` (default 1.0) multiplies the weights alone. This is
    the form that `--moe-fuse-routing` produces and that lowers to a single
    pass over each token's logits (one kernel on the GPU).

  }], MoE_SelectionDoc, [{

    Example:

    ```mlir
    %w, %i, %c = moe.route sigmoid %logits bias(%b)
        {k = 8, num_groups = 8, topk_groups = 4, normalize, scale = 2.5 : f32}
        : tensor<?x256xbf16>, tensor<256xf32>
        -> tensor<?x8xf32>, tensor<?x8xi32>, tensor<256xi32>
    ```
  }]);
  let arguments = !con((ins MoE_ScoreFunction:$function,
                            MoE_LogitTensor:$logits,
                            Optional<MoE_FloatTensor>:$bias),
                       MoE_SelectionAttrs,
                       (ins UnitAttr:$normalize,
                            DefaultValuedAttr<MoE_F32Attr, "1.0f">:$scale));
  let results = (outs MoE_F32Tensor:$weights, MoE_IndexTensor:$indices,
                      MoE_IndexTensor:$counts);
  let assemblyFormat = [{
    $function $logits (`bias` `(` $bias^ `)`)? attr-dict `:` type($logits)
    (`,` type($bias)^)? `->` type($weights) `,` type($indices) `,`
    type($counts)
  }];
  let extraClassDeclaration = MoE_SelectionDecls;
  let hasVerifier = 1;
}

def MoE_DispatchOp : MoE_Op<"dispatch", [Pure]> {
  let summary = "expert-grouped, block-padded layout of the chosen pairs";
  let description = [{
    Groups the pairs (t, j) with a valid expert e = `%i[t, j]` in [0, E) by
    expert; inside an expert, in ascending t then j. With `capacity = C`
    only the first C pairs of each expert are kept. Each expert's segment is
    padded to a multiple of `block` (default 1).
    - `%offsets` [E + 1]: `%offsets[0] = 0`,
      `%offsets[e + 1] = %offsets[e] + roundup(kept[e], block)`.
    - `%token_ids` [P]: P = T*K + E*(block - 1) without capacity and
      E * roundup(C, block) with it; a row of expert e's segment holds its
      token; padding rows and rows past `%offsets[E]` hold -1.
    - `%slots` [T, K]: the row of pair (t, j), or -1 if dropped or invalid.

    Example:

    ```mlir
    %offsets, %token_ids, %slots = moe.dispatch %i {num_experts = 256, block = 64}
        : tensor<?x8xi32> -> tensor<257xi32>, tensor<?xi32>, tensor<?x8xi32>
    %o2, %t2, %s2 = moe.dispatch %i {num_experts = 64, capacity = 128}
        : tensor<512x2xi32> -> tensor<65xi32>, tensor<8192xi32>, tensor<512x2xi32>
    ```
  }];
  let arguments = (ins MoE_IndexTensor:$indices,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_experts,
                       DefaultValuedAttr<ConfinedAttr<I64Attr, [IntPositive]>,
                                         "1">:$block,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$capacity);
  let results = (outs MoE_IndexTensor:$offsets, MoE_IndexTensor:$token_ids,
                      MoE_IndexTensor:$slots);
  let assemblyFormat = [{
    $indices attr-dict `:` type($indices) `->` type($offsets) `,`
    type($token_ids) `,` type($slots)
  }];
  let extraClassDeclaration = [{
    /// The number of rows of `token_ids` for `numTokens` tokens, or
    /// ShapedType::kDynamic when it depends on a dynamic token count.
    int64_t getNumRows(int64_t numTokens);
  }];
  let hasVerifier = 1;
}

def MoE_PermuteOp : MoE_Op<"permute", [Pure]> {
  let summary = "gather token rows into the expert-grouped layout";
  let description = [{
    `%xg[p] = %x[%token_ids[p]]` for the P rows of `%token_ids`; rows whose
    token id is -1 (or outside [0, T)) are zero. The rows have any element
    type; the result has the rows' element type and width.

    Example:

    ```mlir
    %xg = moe.permute %x, %token_ids : tensor<?x1024xbf16>, tensor<?xi32> -> tensor<?x1024xbf16>
    ```
  }];
  let arguments = (ins MoE_AnyTensor:$input, MoE_IndexTensor:$token_ids);
  let results = (outs MoE_AnyTensor:$result);
  let assemblyFormat = [{
    $input `,` $token_ids attr-dict `:` type($input) `,` type($token_ids)
    `->` type($result)
  }];
  let hasVerifier = 1;
}

def MoE_CombineOp : MoE_Op<"combine", [Pure]> {
  let summary = "weighted sum of expert output rows back per token";
  let description = [{
    `%y[t] = sum_j %wn[t, j] * %yg[%slots[t, j]]` over the j with
    `%slots[t, j] != -1` (slots outside [0, P) are skipped too), accumulated
    in f32 and rounded once to the element type of the expert outputs.

    Example:

    ```mlir
    %y = moe.combine %yg, %wn, %slots
        : tensor<?x1024xbf16>, tensor<?x8xf32>, tensor<?x8xi32> -> tensor<?x1024xbf16>
    ```
  }];
  let arguments = (ins MoE_FloatTensor:$expert_out, MoE_F32Tensor:$weights,
                       MoE_IndexTensor:$slots);
  let results = (outs MoE_FloatTensor:$result);
  let assemblyFormat = [{
    $expert_out `,` $weights `,` $slots attr-dict `:` type($expert_out) `,`
    type($weights) `,` type($slots) `->` type($result)
  }];
  let hasVerifier = 1;
}

include "moe/Dialect/MoE/IR/MoEBufferOps.td"
include "moe/Dialect/MoE/IR/MoETrainingOps.td"

#endif // MOE_DIALECT_MOE_IR_MOEOPS_TD

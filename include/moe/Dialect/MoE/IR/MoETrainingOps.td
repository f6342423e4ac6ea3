//===- MoETrainingOps.td - moe training ops ----------------*- tablegen -*-===//
//
// The backward of routing and the balance loss (contract v2): tensor ops and
// their destination-passing `moe.buffer.*` forms. Included by MoEOps.td after
// MoEBufferOps.td.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_IR_MOETRAININGOPS_TD
#define MOE_DIALECT_MOE_IR_MOETRAININGOPS_TD

// The rules shared by every training op and its buffer form.
defvar MoE_TrainingOperandsDoc = [{
    The logits are [T, E] (f32, f16 or bf16; T may be dynamic, E is static),
    the indices [T, K] (i32 or i64, K static and at least 1) with the same
    token dimension (a dynamic T only matches a dynamic T). Scores are
    recomputed from the logits in f32: nothing of size T x E needs to live
    between the forward and the backward.
}];

// The attributes of the balance loss.
defvar MoE_AuxLossAttrs = (ins
  OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$seq_len,
  UnitAttr:$normalize
);

defvar MoE_AuxLossDoc = [{
    The rows split into B consecutive sequences of `seq_len` rows (default:
    one sequence of all T rows; the last may be shorter); sequence b has
    T_b rows. With s = score(logits) over all E experts, p[t, e] =
    s[t, e] / sum_e' s[t, e'] with `normalize` (0 where that sum is 0) and
    p = s without, and c[b, e] the number of pairs (t, j) of sequence b with
    a valid index i[t, j] == e (indices outside [0, E) are skipped):
    f[b, e] = E * c[b, e] / (K * T_b), P[b, e] = (1 / T_b) sum_{t in b}
    p[t, e], and loss = (1 / B) sum_b sum_e f[b, e] * P[b, e] (0 for T = 0).
    The coefficient (DeepSeek-V3: alpha = 1e-4) is the program's to apply.
}];

defvar MoE_RouteGradDoc = [{
    Per token t, with s = score(logits[t]) (f32, all E experts), the valid
    pairs j (0 <= i[t, j] < E), w_j = s[i[t, j]] and S = sum_j w_j:
    - g_j = scale * (dw_j - (sum_k dw_k * w_k) / S) / S with `normalize` (the
      row is 0 when S == 0), g_j = scale * dw_j without;
    - ds[e] = g_j for e = i[t, j], 0 for experts not chosen;
    - dx = ds * s * (1 - s) for `sigmoid`, ds * sigmoid(x) / (2 s) for
      `sqrtsoftplus` (0 where s == 0), s * (ds - sum_e' ds[e'] * s[e']) for
      `softmax`.
    No gradient flows through the choice or to the bias (not an operand).
}];

//===----------------------------------------------------------------------===//
// Tensor ops
//===----------------------------------------------------------------------===//

def MoE_RouteGradOp : MoE_Op<"route_grad", [Pure]> {
  let summary = "backward of the routing weights: d loss / d logits";
  let description = !strconcat([{
    The gradient with respect to the logits of `moe.route` (equally of
    score -> topk -> [normalize]) given `%dw`, the f32 gradient with respect
    to its [T, K] weights, and `%i`, the indices it chose. The function
    keyword, `normalize` and `scale` (default 1.0) mean what they mean in
    `moe.route`.

  }], MoE_RouteGradDoc, MoE_TrainingOperandsDoc, [{
    The result has the logits' shape and is f32 or the logits' element type
    (computed in f32, rounded once). A static T = 0 folds to an empty
    constant. A zero `%dw` does not fold: a NaN logit still makes its
    gradient NaN.

    Example:

    ```mlir
    %dx = moe.route_grad sigmoid %logits, %i, %dw {normalize, scale = 2.5 : f32}
        : tensor<?x256xbf16>, tensor<?x8xi32>, tensor<?x8xf32> -> tensor<?x256xf32>
    ```
  }]);
  let arguments = (ins MoE_ScoreFunction:$function, MoE_LogitTensor:$logits,
                       MoE_IndexTensor:$indices, MoE_F32Tensor:$grad,
                       UnitAttr:$normalize,
                       DefaultValuedAttr<F32Attr, "1.0f">:$scale);
  let results = (outs MoE_LogitTensor:$result);
  let assemblyFormat = [{
    $function $logits `,` $indices `,` $grad attr-dict `:` type($logits) `,`
    type($indices) `,` type($grad) `->` type($result)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def MoE_AuxLossOp : MoE_Op<"aux_loss", [Pure]> {
  let summary = "the sequence-wise (or batch-wise) expert balance loss";
  let description = !strconcat([{
    DeepSeek-V3's complementary sequence-wise balance loss; with one
    sequence, the batch-wise auxiliary loss of GShard / Switch. Returns a
    rank-0 f32 tensor.

  }], MoE_AuxLossDoc, MoE_TrainingOperandsDoc, [{
    A static T = 0 folds to 0.

    Example:

    ```mlir
    %l = moe.aux_loss sigmoid %logits, %i {seq_len = 4096, normalize}
        : tensor<?x256xbf16>, tensor<?x8xi32> -> tensor<f32>
    ```
  }]);
  let arguments = !con((ins MoE_ScoreFunction:$function,
                            MoE_LogitTensor:$logits, MoE_IndexTensor:$indices),
                       MoE_AuxLossAttrs);
  let results = (outs MoE_F32Tensor:$result);
  let assemblyFormat = [{
    $function $logits `,` $indices attr-dict `:` type($logits) `,`
    type($indices) `->` type($result)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def MoE_AuxLossGradOp : MoE_Op<"aux_loss_grad", [Pure]> {
  let summary = "d (balance loss) / d logits, times an upstream gradient";
  let description = !strconcat([{
    `%dl` (a rank-0 f32 tensor) times the gradient of `moe.aux_loss` with
    respect to the logits. The counts f are constants (no gradient flows
    through the choice): dp[t, e] = dl * f[b, e] / (B * T_b) for t in
    sequence b; with `normalize`, ds[e] = (dp[e] - sum_e' dp[e'] * p[e']) /
    sum_e' s[e'] (0 where that sum is 0), ds = dp without; then dx through
    the score function as in `moe.route_grad`.

  }], MoE_AuxLossDoc, MoE_TrainingOperandsDoc, [{
    The result is f32 with the logits' shape. A static T = 0 folds to an
    empty constant.

    Example:

    ```mlir
    %dx = moe.aux_loss_grad sigmoid %logits, %i, %dl {seq_len = 4096, normalize}
        : tensor<?x256xbf16>, tensor<?x8xi32>, tensor<f32> -> tensor<?x256xf32>
    ```
  }]);
  let arguments = !con((ins MoE_ScoreFunction:$function,
                            MoE_LogitTensor:$logits, MoE_IndexTensor:$indices,
                            MoE_F32Tensor:$loss_grad),
                       MoE_AuxLossAttrs);
  let results = (outs MoE_F32Tensor:$result);
  let assemblyFormat = [{
    $function $logits `,` $indices `,` $loss_grad attr-dict `:`
    type($logits) `,` type($indices) `,` type($loss_grad) `->` type($result)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def MoE_RouteAuxGradOp : MoE_Op<"route_aux_grad", [Pure]> {
  let summary = "fused training backward: route_grad + aux_loss_grad";
  let description = [{
    The sum of `moe.route_grad` (with `%dw`, `normalize`, `scale`) and
    `moe.aux_loss_grad` (with `%dl`, `seq_len`, `aux_normalize` in the role
    of its `normalize`) on the same logits, indices and score function, in
    one op: the logits are read and the scores computed once per token, and
    dx is written once. `--moe-fuse-training` produces it from an
    `arith.addf` of the two gradients. The alpha of the balance loss is in
    `%dl`. The result has the logits' shape and is f32 or the logits'
    element type (computed in f32, rounded once). A static T = 0 folds to an
    empty constant.

    Example:

    ```mlir
    %dx = moe.route_aux_grad sigmoid %logits, %i, %dw, %dl
        {normalize, scale = 2.5 : f32, seq_len = 4096, aux_normalize}
        : tensor<?x256xbf16>, tensor<?x8xi32>, tensor<?x8xf32>, tensor<f32>
        -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins MoE_ScoreFunction:$function, MoE_LogitTensor:$logits,
                       MoE_IndexTensor:$indices, MoE_F32Tensor:$grad,
                       MoE_F32Tensor:$loss_grad, UnitAttr:$normalize,
                       DefaultValuedAttr<F32Attr, "1.0f">:$scale,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$seq_len,
                       UnitAttr:$aux_normalize);
  let results = (outs MoE_LogitTensor:$result);
  let assemblyFormat = [{
    $function $logits `,` $indices `,` $grad `,` $loss_grad attr-dict `:`
    type($logits) `,` type($indices) `,` type($grad) `,` type($loss_grad)
    `->` type($result)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Buffer ops
//===----------------------------------------------------------------------===//

def MoE_BufferRouteGradOp : MoE_BufferOp<"route_grad"> {
  let summary = "memref form of moe.route_grad";
  let description = [{
    Overwrites `outs` with the logits' gradient; see `moe.route_grad`.

    Example:

    ```mlir
    moe.buffer.route_grad sigmoid
        ins(%x, %i, %dw : memref<?x256xbf16>, memref<?x8xi32>, memref<?x8xf32>)
        outs(%dx : memref<?x256xf32>) {normalize, scale = 2.5 : f32}
    ```
  }];
  let arguments = (ins MoE_ScoreFunction:$function,
                       MoE_In<MoE_LogitMemRef>:$logits,
                       MoE_In<MoE_IndexMemRef>:$indices,
                       MoE_In<MoE_F32MemRef>:$grad,
                       MoE_Out<MoE_LogitMemRef>:$output,
                       UnitAttr:$normalize,
                       DefaultValuedAttr<F32Attr, "1.0f">:$scale);
  let assemblyFormat = [{
    $function `ins` `(` $logits `,` $indices `,` $grad `:` type($logits) `,`
    type($indices) `,` type($grad) `)`
    `outs` `(` $output `:` type($output) `)` attr-dict
  }];
}

def MoE_BufferAuxLossOp : MoE_BufferOp<"aux_loss"> {
  let summary = "memref form of moe.aux_loss";
  let description = [{
    Overwrites the rank-0 `outs` with the balance loss; see `moe.aux_loss`.

    Example:

    ```mlir
    moe.buffer.aux_loss sigmoid ins(%x, %i : memref<?x256xbf16>, memref<?x8xi32>)
        outs(%l : memref<f32>) {seq_len = 4096, normalize}
    ```
  }];
  let arguments = !con((ins MoE_ScoreFunction:$function,
                            MoE_In<MoE_LogitMemRef>:$logits,
                            MoE_In<MoE_IndexMemRef>:$indices,
                            MoE_Out<MoE_F32MemRef>:$output),
                       MoE_AuxLossAttrs);
  let assemblyFormat = [{
    $function `ins` `(` $logits `,` $indices `:` type($logits) `,`
    type($indices) `)` `outs` `(` $output `:` type($output) `)` attr-dict
  }];
}

def MoE_BufferAuxLossGradOp : MoE_BufferOp<"aux_loss_grad"> {
  let summary = "memref form of moe.aux_loss_grad";
  let description = [{
    Overwrites `outs` with the balance loss gradient; see
    `moe.aux_loss_grad`.

    Example:

    ```mlir
    moe.buffer.aux_loss_grad sigmoid
        ins(%x, %i, %dl : memref<?x256xbf16>, memref<?x8xi32>, memref<f32>)
        outs(%dx : memref<?x256xf32>) {seq_len = 4096, normalize}
    ```
  }];
  let arguments = !con((ins MoE_ScoreFunction:$function,
                            MoE_In<MoE_LogitMemRef>:$logits,
                            MoE_In<MoE_IndexMemRef>:$indices,
                            MoE_In<MoE_F32MemRef>:$loss_grad,
                            MoE_Out<MoE_F32MemRef>:$output),
                       MoE_AuxLossAttrs);
  let assemblyFormat = [{
    $function `ins` `(` $logits `,` $indices `,` $loss_grad `:`
    type($logits) `,` type($indices) `,` type($loss_grad) `)`
    `outs` `(` $output `:` type($output) `)` attr-dict
  }];
}

def MoE_BufferRouteAuxGradOp : MoE_BufferOp<"route_aux_grad"> {
  let summary = "memref form of moe.route_aux_grad";
  let description = [{
    Overwrites `outs` with the fused gradient; see `moe.route_aux_grad`.

    Example:

    ```mlir
    moe.buffer.route_aux_grad sigmoid
        ins(%x, %i, %dw, %dl : memref<?x256xbf16>, memref<?x8xi32>,
            memref<?x8xf32>, memref<f32>)
        outs(%dx : memref<?x256xf32>)
        {normalize, scale = 2.5 : f32, seq_len = 4096, aux_normalize}
    ```
  }];
  let arguments = (ins MoE_ScoreFunction:$function,
                       MoE_In<MoE_LogitMemRef>:$logits,
                       MoE_In<MoE_IndexMemRef>:$indices,
                       MoE_In<MoE_F32MemRef>:$grad,
                       MoE_In<MoE_F32MemRef>:$loss_grad,
                       MoE_Out<MoE_LogitMemRef>:$output,
                       UnitAttr:$normalize,
                       DefaultValuedAttr<F32Attr, "1.0f">:$scale,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$seq_len,
                       UnitAttr:$aux_normalize);
  let assemblyFormat = [{
    $function `ins` `(` $logits `,` $indices `,` $grad `,` $loss_grad `:`
    type($logits) `,` type($indices) `,` type($grad) `,` type($loss_grad) `)`
    `outs` `(` $output `:` type($output) `)` attr-dict
  }];
}

#endif // MOE_DIALECT_MOE_IR_MOETRAININGOPS_TD

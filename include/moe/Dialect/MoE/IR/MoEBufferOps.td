//===- MoEBufferOps.td - memref-level moe ops --------------*- tablegen -*-===//
//
// The destination-passing, memref-level forms of the tensor ops. One-shot
// bufferization produces them; the CPU (--convert-moe-to-loops) and GPU
// (--convert-moe-to-gpu) lowerings consume them. Each reads its `ins` and
// overwrites every element of its `outs`; the semantics are those of the
// tensor op of the same name.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_IR_MOEBUFFEROPS_TD
#define MOE_DIALECT_MOE_IR_MOEBUFFEROPS_TD

class MoE_BufferOp<string mnemonic, list<Trait> traits = []>
    : MoE_Op<"buffer." # mnemonic, traits> {
  let hasVerifier = 1;
}

class MoE_In<Constraint type> : Arg<type, "", [MemRead]>;
class MoE_Out<Constraint type> : Arg<type, "", [MemWrite]>;

def MoE_BufferScoreOp : MoE_BufferOp<"score"> {
  let summary = "memref form of moe.score";
  let description = [{
    Writes the scores of `ins` into `outs`; see `moe.score`.

    Example:

    ```mlir
    moe.buffer.score sigmoid ins(%x : memref<?x256xbf16>) outs(%s : memref<?x256xf32>)
    ```
  }];
  let arguments = (ins MoE_ScoreFunction:$function,
                       MoE_In<MoE_LogitMemRef>:$input,
                       MoE_Out<MoE_F32MemRef>:$output);
  let assemblyFormat = [{
    $function `ins` `(` $input `:` type($input) `)`
    `outs` `(` $output `:` type($output) `)` attr-dict
  }];
}

def MoE_BufferTopKOp : MoE_BufferOp<"topk"> {
  let summary = "memref form of moe.topk";
  let description = [{
    Writes the weights and indices chosen by `moe.topk` semantics.

    Example:

    ```mlir
    moe.buffer.topk ins(%s : memref<?x256xf32>) bias(%b : memref<256xf32>)
        outs(%w, %i : memref<?x8xf32>, memref<?x8xi32>)
        {k = 8, num_groups = 8, topk_groups = 4}
    ```
  }];
  let arguments = !con((ins MoE_In<MoE_F32MemRef>:$scores,
                            MoE_In<Optional<MoE_FloatMemRef>>:$bias,
                            MoE_Out<MoE_F32MemRef>:$weights,
                            MoE_Out<MoE_IndexMemRef>:$indices),
                       MoE_SelectionAttrs);
  let assemblyFormat = [{
    `ins` `(` $scores `:` type($scores) `)`
    (`bias` `(` $bias^ `:` type($bias) `)`)?
    `outs` `(` $weights `,` $indices `:` type($weights) `,` type($indices) `)`
    attr-dict
  }];
  let extraClassDeclaration = MoE_SelectionDecls;
}

def MoE_BufferNormalizeOp : MoE_BufferOp<"normalize"> {
  let summary = "memref form of moe.normalize";
  let description = [{
    Writes the renormalised, scaled weights; `ins` and `outs` may be the same
    buffer.

    Example:

    ```mlir
    moe.buffer.normalize ins(%w : memref<?x8xf32>) outs(%wn : memref<?x8xf32>)
        {scale = 2.5 : f32}
    ```
  }];
  let arguments = (ins MoE_In<MoE_F32MemRef>:$weights,
                       MoE_Out<MoE_F32MemRef>:$output,
                       DefaultValuedAttr<MoE_F32Attr, "1.0f">:$scale);
  let assemblyFormat = [{
    `ins` `(` $weights `:` type($weights) `)`
    `outs` `(` $output `:` type($output) `)` attr-dict
  }];
}

def MoE_BufferLoadOp : MoE_BufferOp<"load"> {
  let summary = "memref form of moe.load";
  let description = [{
    Overwrites `outs` with the number of tokens per expert.

    Example:

    ```mlir
    moe.buffer.load ins(%i : memref<?x8xi32>) mask(%m : memref<?xi1>)
        outs(%c : memref<256xi32>) {num_experts = 256}
    ```
  }];
  let arguments = (ins MoE_In<MoE_IndexMemRef>:$indices,
                       MoE_In<Optional<MoE_MaskMemRef>>:$mask,
                       MoE_Out<MoE_IndexMemRef>:$counts,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_experts);
  let assemblyFormat = [{
    `ins` `(` $indices `:` type($indices) `)`
    (`mask` `(` $mask^ `:` type($mask) `)`)?
    `outs` `(` $counts `:` type($counts) `)` attr-dict
  }];
}

def MoE_BufferUpdateBiasOp : MoE_BufferOp<"update_bias"> {
  let summary = "memref form of moe.update_bias";
  let description = [{
    Writes the updated bias; `outs` may be the bias buffer itself.

    Example:

    ```mlir
    moe.buffer.update_bias sign ins(%b, %c : memref<256xf32>, memref<256xi32>)
        outs(%b2 : memref<256xf32>) {rate = 1.0e-03 : f32}
    ```
  }];
  let arguments = (ins MoE_UpdateRule:$rule,
                       MoE_In<MoE_FloatMemRef>:$bias,
                       MoE_In<MoE_LoadMemRef>:$load,
                       MoE_Out<MoE_FloatMemRef>:$output,
                       MoE_F32Attr:$rate, UnitAttr:$center);
  let assemblyFormat = [{
    $rule `ins` `(` $bias `,` $load `:` type($bias) `,` type($load) `)`
    `outs` `(` $output `:` type($output) `)` attr-dict
  }];
}

def MoE_BufferImbalanceOp : MoE_BufferOp<"imbalance"> {
  let summary = "memref form of moe.imbalance";
  let description = [{
    Reads a load buffer and returns its MaxVio.

    Example:

    ```mlir
    %v = moe.buffer.imbalance ins(%c : memref<256xi32>) -> f32
    ```
  }];
  let arguments = (ins MoE_In<MoE_LoadMemRef>:$load);
  let results = (outs F32:$result);
  let assemblyFormat = [{
    `ins` `(` $load `:` type($load) `)` attr-dict `->` type($result)
  }];
}

def MoE_BufferRouteOp : MoE_BufferOp<"route"> {
  let summary = "memref form of moe.route";
  let description = [{
    The fused routing step on buffers; see `moe.route`.

    Example:

    ```mlir
    moe.buffer.route sigmoid ins(%x : memref<?x256xbf16>)
        bias(%b : memref<256xf32>)
        outs(%w, %i, %c : memref<?x8xf32>, memref<?x8xi32>, memref<256xi32>)
        {k = 8, num_groups = 8, topk_groups = 4, normalize, scale = 2.5 : f32}
    ```
  }];
  let arguments = !con((ins MoE_ScoreFunction:$function,
                            MoE_In<MoE_LogitMemRef>:$logits,
                            MoE_In<Optional<MoE_FloatMemRef>>:$bias,
                            MoE_Out<MoE_F32MemRef>:$weights,
                            MoE_Out<MoE_IndexMemRef>:$indices,
                            MoE_Out<MoE_IndexMemRef>:$counts),
                       MoE_SelectionAttrs,
                       (ins UnitAttr:$normalize,
                            DefaultValuedAttr<MoE_F32Attr, "1.0f">:$scale));
  let assemblyFormat = [{
    $function `ins` `(` $logits `:` type($logits) `)`
    (`bias` `(` $bias^ `:` type($bias) `)`)?
    `outs` `(` $weights `,` $indices `,` $counts `:` type($weights) `,`
    type($indices) `,` type($counts) `)` attr-dict
  }];
  let extraClassDeclaration = MoE_SelectionDecls;
}

def MoE_BufferDispatchOp : MoE_BufferOp<"dispatch"> {
  let summary = "memref form of moe.dispatch";
  let description = [{
    Writes the expert offsets, token ids and slots; see `moe.dispatch`.

    Example:

    ```mlir
    moe.buffer.dispatch ins(%i : memref<?x8xi32>)
        outs(%o, %t, %s : memref<257xi32>, memref<?xi32>, memref<?x8xi32>)
        {num_experts = 256, block = 64}
    ```
  }];
  let arguments = (ins MoE_In<MoE_IndexMemRef>:$indices,
                       MoE_Out<MoE_IndexMemRef>:$offsets,
                       MoE_Out<MoE_IndexMemRef>:$token_ids,
                       MoE_Out<MoE_IndexMemRef>:$slots,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_experts,
                       DefaultValuedAttr<ConfinedAttr<I64Attr, [IntPositive]>,
                                         "1">:$block,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$capacity);
  let assemblyFormat = [{
    `ins` `(` $indices `:` type($indices) `)`
    `outs` `(` $offsets `,` $token_ids `,` $slots `:` type($offsets) `,`
    type($token_ids) `,` type($slots) `)` attr-dict
  }];
}

def MoE_BufferPermuteOp : MoE_BufferOp<"permute"> {
  let summary = "memref form of moe.permute";
  let description = [{
    Example:

    ```mlir
    moe.buffer.permute ins(%x, %t : memref<?x1024xbf16>, memref<?xi32>)
        outs(%xg : memref<?x1024xbf16>)
    ```
  }];
  let arguments = (ins MoE_In<MoE_AnyMemRef>:$input,
                       MoE_In<MoE_IndexMemRef>:$token_ids,
                       MoE_Out<MoE_AnyMemRef>:$output);
  let assemblyFormat = [{
    `ins` `(` $input `,` $token_ids `:` type($input) `,` type($token_ids) `)`
    `outs` `(` $output `:` type($output) `)` attr-dict
  }];
}

def MoE_BufferCombineOp : MoE_BufferOp<"combine"> {
  let summary = "memref form of moe.combine";
  let description = [{
    Example:

    ```mlir
    moe.buffer.combine ins(%yg, %wn, %s : memref<?x1024xbf16>, memref<?x8xf32>, memref<?x8xi32>)
        outs(%y : memref<?x1024xbf16>)
    ```
  }];
  let arguments = (ins MoE_In<MoE_FloatMemRef>:$expert_out,
                       MoE_In<MoE_F32MemRef>:$weights,
                       MoE_In<MoE_IndexMemRef>:$slots,
                       MoE_Out<MoE_FloatMemRef>:$output);
  let assemblyFormat = [{
    `ins` `(` $expert_out `,` $weights `,` $slots `:` type($expert_out) `,`
    type($weights) `,` type($slots) `)`
    `outs` `(` $output `:` type($output) `)` attr-dict
  }];
}

#endif // MOE_DIALECT_MOE_IR_MOEBUFFEROPS_TD

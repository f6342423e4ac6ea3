//===- Passes.td - moe dialect transformation passes -------*- tablegen -*-===//
#ifndef MOE_DIALECT_MOE_TRANSFORMS_PASSES_TD
#define MOE_DIALECT_MOE_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def MoEFuseRouting : Pass<"moe-fuse-routing"> {
  let summary = "Fuse score -> topk -> [normalize] -> [load] chains into "
                "moe.route";
  let description = [{
    Rewrites a `moe.topk` whose scores come from a `moe.score` into one
    `moe.route` that reads each logit once. A following `moe.normalize` of
    the weights is folded in (the `normalize` unit attribute and `scale`)
    when the weights have no other user, and an unmasked `moe.load` of the
    indices over the same experts becomes the route's counts. Values with
    other users stay available: the `moe.score` is kept when something else
    reads the scores, unfused normalize and load ops read the route's
    results, so the rewrite never changes what any value computes.

    Example:

    ```mlir
    %s = moe.score sigmoid %x : tensor<?x256xf32> -> tensor<?x256xf32>
    %w, %i = moe.topk %s bias(%b) {k = 8} : ...
    %wn = moe.normalize %w {scale = 2.5 : f32} : tensor<?x8xf32>
    %c = moe.load %i {num_experts = 256} : tensor<?x8xi32> -> tensor<256xi32>
    ```
    becomes

    ```mlir
    %wn, %i, %c = moe.route sigmoid %x bias(%b)
        {k = 8, normalize, scale = 2.5 : f32} : ...
    ```
  }];
  let dependentDialects = ["::mlir::moe::MoEDialect"];
}

def MoEFuseTraining : Pass<"moe-fuse-training"> {
  let summary = "Fuse the sum of moe.route_grad and moe.aux_loss_grad into "
                "moe.route_aux_grad";
  let description = [{
    A training step adds the two gradients of the router logits: that of the
    routing weights and that of the balance loss. This pass rewrites an
    `arith.addf` of a `moe.route_grad` and a `moe.aux_loss_grad` (in either
    order) on the same logits, indices and score function into one
    `moe.route_aux_grad`, which reads the logits and computes the scores
    once per token and writes the gradient once. Both gradients must have
    the `arith.addf` as their only user (otherwise they are computed anyway
    and fusing would repeat the work); the attributes of each (`normalize`
    and `scale` of the routing gradient, `seq_len` and `normalize` of the
    balance loss, which becomes `aux_normalize`) carry over unchanged.

    Example:

    ```mlir
    %g = moe.route_grad sigmoid %x, %i, %dw {normalize, scale = 2.5 : f32} : ...
    %a = moe.aux_loss_grad sigmoid %x, %i, %dl {seq_len = 4096, normalize} : ...
    %dx = arith.addf %g, %a : tensor<?x256xf32>
    ```
    becomes

    ```mlir
    %dx = moe.route_aux_grad sigmoid %x, %i, %dw, %dl
        {normalize, scale = 2.5 : f32, seq_len = 4096, aux_normalize} : ...
    ```
  }];
  let dependentDialects = ["::mlir::moe::MoEDialect"];
}

#endif // MOE_DIALECT_MOE_TRANSFORMS_PASSES_TD

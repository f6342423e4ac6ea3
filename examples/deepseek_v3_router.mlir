// The DeepSeek-V3 gate as a tensor program: sigmoid scores of 256 routed
// experts, the expert bias (e_score_correction_bias, f32) added for the
// choice only, 8 groups of 32 scored by their 2 best biased scores, the 4
// best groups kept, the top-8 experts of those, their unbiased scores
// renormalised and scaled by 2.5, and the tokens per expert for the bias
// update of the next step. --moe-fuse-routing turns the chain into one
// moe.route.
//
//   moe-opt examples/deepseek_v3_router.mlir --moe-fuse-routing
//   moe-opt examples/deepseek_v3_router.mlir --moe-lower-to-cpu
//   moe-opt examples/deepseek_v3_router.mlir --moe-lower-to-nvvm

func.func @deepseek_v3_gate(%logits: tensor<?x256xbf16>, %bias: tensor<256xf32>)
    -> (tensor<?x8xf32>, tensor<?x8xi32>, tensor<256xf32>, f32) {
  %scores = moe.score sigmoid %logits : tensor<?x256xbf16> -> tensor<?x256xf32>
  %w, %experts = moe.topk %scores bias(%bias) {k = 8, num_groups = 8, topk_groups = 4}
      : tensor<?x256xf32>, tensor<256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  %weights = moe.normalize %w {scale = 2.5 : f32} : tensor<?x8xf32>
  %load = moe.load %experts {num_experts = 256} : tensor<?x8xi32> -> tensor<256xi32>
  %next_bias = moe.update_bias sign %bias, %load {rate = 1.0e-03 : f32}
      : tensor<256xf32>, tensor<256xi32>
  %maxvio = moe.imbalance %load : tensor<256xi32> -> f32
  return %weights, %experts, %next_bias, %maxvio
      : tensor<?x8xf32>, tensor<?x8xi32>, tensor<256xf32>, f32
}

// Case 'topk_nan_inf_scores_dynamic' of the independent NumPy reference on an NVIDIA GPU: the same
// program and expected values as test/Integration/CPU/topk_nan_inf_scores_dynamic.mlir.
// REQUIRES: cuda
// RUN: %moe_ref gen topk_nan_inf_scores_dynamic > %t.mlir
// RUN: moe-opt %t.mlir --moe-lower-to-nvvm | mlir-runner -e main --entry-point-result=void --shared-libs=%cuda_runner_libs > %t.out
// RUN: %moe_ref check topk_nan_inf_scores_dynamic %t.out

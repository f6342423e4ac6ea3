// Case 'topk_k1_and_k_equals_e_dynamic' of the independent NumPy reference on an NVIDIA GPU: the same
// program and expected values as test/Integration/CPU/topk_k1_and_k_equals_e_dynamic.mlir.
// REQUIRES: cuda
// RUN: %moe_ref gen topk_k1_and_k_equals_e_dynamic > %t.mlir
// RUN: moe-opt %t.mlir --moe-lower-to-nvvm | mlir-runner -e main --entry-point-result=void --shared-libs=%cuda_runner_libs > %t.out
// RUN: %moe_ref check topk_k1_and_k_equals_e_dynamic %t.out

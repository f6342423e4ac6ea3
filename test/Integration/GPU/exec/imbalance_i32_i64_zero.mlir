// Case 'imbalance_i32_i64_zero' of the independent NumPy reference on an NVIDIA GPU: the same
// program and expected values as test/Integration/CPU/imbalance_i32_i64_zero.mlir.
// REQUIRES: cuda
// RUN: %moe_ref gen imbalance_i32_i64_zero > %t.mlir
// RUN: moe-opt %t.mlir --moe-lower-to-nvvm | mlir-runner -e main --entry-point-result=void --shared-libs=%cuda_runner_libs > %t.out
// RUN: %moe_ref check imbalance_i32_i64_zero %t.out

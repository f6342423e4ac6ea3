// Case 'update_bias_i64_batched' of the independent NumPy reference on an NVIDIA GPU: the same
// program and expected values as test/Integration/CPU/update_bias_i64_batched.mlir.
// REQUIRES: cuda
// RUN: %moe_ref gen update_bias_i64_batched > %t.mlir
// RUN: moe-opt %t.mlir --moe-lower-to-nvvm | mlir-runner -e main --entry-point-result=void --shared-libs=%cuda_runner_libs > %t.out
// RUN: %moe_ref check update_bias_i64_batched %t.out

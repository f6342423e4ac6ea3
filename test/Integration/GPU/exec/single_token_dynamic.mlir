// Case 'single_token_dynamic' of the independent NumPy reference on an NVIDIA GPU: the same
// program and expected values as test/Integration/CPU/single_token_dynamic.mlir.
// REQUIRES: cuda
// RUN: %moe_ref gen single_token_dynamic > %t.mlir
// RUN: moe-opt %t.mlir --moe-lower-to-nvvm | mlir-runner -e main --entry-point-result=void --shared-libs=%cuda_runner_libs > %t.out
// RUN: %moe_ref check single_token_dynamic %t.out

// Case 'score_functions_static' of the independent NumPy reference on an NVIDIA GPU: the same
// program and expected values as test/Integration/CPU/score_functions_static.mlir.
// REQUIRES: cuda
// RUN: %moe_ref gen score_functions_static > %t.mlir
// RUN: moe-opt %t.mlir --moe-lower-to-nvvm | mlir-runner -e main --entry-point-result=void --shared-libs=%cuda_runner_libs > %t.out
// RUN: %moe_ref check score_functions_static %t.out

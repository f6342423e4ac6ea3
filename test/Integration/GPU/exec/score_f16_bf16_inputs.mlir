// Case 'score_f16_bf16_inputs' of the independent NumPy reference on an NVIDIA GPU: the same
// program and expected values as test/Integration/CPU/score_f16_bf16_inputs.mlir.
// REQUIRES: cuda
// RUN: %moe_ref gen score_f16_bf16_inputs > %t.mlir
// RUN: moe-opt %t.mlir --moe-lower-to-nvvm | mlir-runner -e main --entry-point-result=void --shared-libs=%cuda_runner_libs > %t.out
// RUN: %moe_ref check score_f16_bf16_inputs %t.out

// Case 'dispatch_capacity_static' of the independent NumPy reference on an NVIDIA GPU: the same
// program and expected values as test/Integration/CPU/dispatch_capacity_static.mlir.
// REQUIRES: cuda
// RUN: %moe_ref gen dispatch_capacity_static > %t.mlir
// RUN: moe-opt %t.mlir --moe-lower-to-nvvm | mlir-runner -e main --entry-point-result=void --shared-libs=%cuda_runner_libs > %t.out
// RUN: %moe_ref check dispatch_capacity_static %t.out

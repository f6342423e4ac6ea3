// Case 'topk_group_top1_dynamic' of the independent NumPy reference on an NVIDIA GPU: the same
// program and expected values as test/Integration/CPU/topk_group_top1_dynamic.mlir.
// REQUIRES: cuda
// RUN: %moe_ref gen topk_group_top1_dynamic > %t.mlir
// RUN: moe-opt %t.mlir --moe-lower-to-nvvm | mlir-runner -e main --entry-point-result=void --shared-libs=%cuda_runner_libs > %t.out
// RUN: %moe_ref check topk_group_top1_dynamic %t.out

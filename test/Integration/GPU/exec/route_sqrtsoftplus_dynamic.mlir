// Case 'route_sqrtsoftplus_dynamic' of the independent NumPy reference on an NVIDIA GPU: the same
// program and expected values as test/Integration/CPU/route_sqrtsoftplus_dynamic.mlir.
// REQUIRES: cuda
// RUN: %moe_ref gen route_sqrtsoftplus_dynamic > %t.mlir
// RUN: moe-opt %t.mlir --moe-lower-to-nvvm | mlir-runner -e main --entry-point-result=void --shared-libs=%cuda_runner_libs > %t.out
// RUN: %moe_ref check route_sqrtsoftplus_dynamic %t.out

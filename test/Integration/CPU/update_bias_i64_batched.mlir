// Case 'update_bias_i64_batched' of the independent NumPy reference (test/Integration/ref):
// the program and its expected values both come from moe_ref.py.
// RUN: %moe_ref gen update_bias_i64_batched > %t.mlir
// RUN: moe-opt %t.mlir --moe-lower-to-cpu | mlir-runner -e main --entry-point-result=void --shared-libs=%runner_libs > %t.fused.out
// RUN: %moe_ref check update_bias_i64_batched %t.fused.out
// RUN: moe-opt %t.mlir --moe-lower-to-cpu="fuse-routing=0" | mlir-runner -e main --entry-point-result=void --shared-libs=%runner_libs > %t.unfused.out
// RUN: %moe_ref check update_bias_i64_batched %t.unfused.out

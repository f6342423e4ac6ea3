// Case 'single_token_dynamic' of the independent NumPy reference (test/Integration/ref):
// the program and its expected values both come from moe_ref.py.
// RUN: %moe_ref gen single_token_dynamic > %t.mlir
// RUN: moe-opt %t.mlir --moe-lower-to-cpu | mlir-runner -e main --entry-point-result=void --shared-libs=%runner_libs > %t.fused.out
// RUN: %moe_ref check single_token_dynamic %t.fused.out
// RUN: moe-opt %t.mlir --moe-lower-to-cpu="fuse-routing=0" | mlir-runner -e main --entry-point-result=void --shared-libs=%runner_libs > %t.unfused.out
// RUN: %moe_ref check single_token_dynamic %t.unfused.out

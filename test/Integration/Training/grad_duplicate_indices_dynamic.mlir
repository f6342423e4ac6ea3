// Case 'grad_duplicate_indices_dynamic' of the training reference (test/Integration/ref/moe_ref_train.py):
// the program and its expected values both come from the reference.
// RUN: %moe_ref_train gen grad_duplicate_indices_dynamic > %t.mlir
// RUN: moe-opt %t.mlir --moe-lower-to-cpu | mlir-runner -e main --entry-point-result=void --shared-libs=%runner_libs > %t.fused.out
// RUN: %moe_ref_train check grad_duplicate_indices_dynamic %t.fused.out
// RUN: moe-opt %t.mlir --moe-lower-to-cpu="fuse-routing=0" | mlir-runner -e main --entry-point-result=void --shared-libs=%runner_libs > %t.unfused.out
// RUN: %moe_ref_train check grad_duplicate_indices_dynamic %t.unfused.out

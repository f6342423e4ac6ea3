// The training step written in docs/training.md (route -> balance loss ->
// route_grad + aux_loss_grad -> router weights' gradient and SGD step;
// update_bias from the counts), extracted from the document, run through
// --moe-lower-to-cpu fused and unfused and checked against the NumPy
// reference (training_step.py).
// RUN: %python %S/training_step.py gen %moe_src_root/docs/training.md > %t.mlir
// RUN: moe-opt %t.mlir --moe-lower-to-cpu | mlir-runner -e main --entry-point-result=void --shared-libs=%runner_libs > %t.fused.out
// RUN: %python %S/training_step.py check %t.fused.out
// RUN: moe-opt %t.mlir --moe-lower-to-cpu="fuse-routing=0" | mlir-runner -e main --entry-point-result=void --shared-libs=%runner_libs > %t.unfused.out
// RUN: %python %S/training_step.py check %t.unfused.out
// The fused pipeline computes the sum of the gradients in one op.
// RUN: moe-opt %t.mlir --moe-fuse-routing --moe-fuse-training | FileCheck %s
// CHECK-LABEL: func.func @train_step
// CHECK: %[[X:.*]] = linalg.matmul
// CHECK-NEXT: %{{.*}}, %[[I:.*]], %{{.*}} = moe.route sigmoid %[[X]]
// CHECK-NEXT: moe.aux_loss sigmoid %[[X]], %[[I]]
// CHECK-NEXT: moe.route_aux_grad sigmoid %[[X]], %[[I]], %{{.*}}, %{{.*}} {aux_normalize, normalize, scale = 2.500000e+00 : f32, seq_len = 8 : i64}
// CHECK-NOT: moe.route_grad
// CHECK-NOT: moe.aux_loss_grad

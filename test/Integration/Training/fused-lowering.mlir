// The fused backward reads the logits once per token and keeps only [E]
// rows on the stack: no [T, E] buffer is allocated between the scores and
// the gradient, and with --moe-lower-to-cpu the sum becomes one op.
// RUN: moe-opt %s --moe-fuse-training --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --convert-moe-to-loops | FileCheck %s

// CHECK-LABEL: func.func @step(
// CHECK-SAME: %[[X:.*]]: memref<?x256xbf16>
// CHECK-DAG: memref.alloca() : memref<256xf32>
// The gradient is the only allocation.
// CHECK: memref.alloc(%{{.*}}) {{.*}}: memref<?x256xf32>
// CHECK-NOT: memref.alloc(
// CHECK-NOT: moe.
// CHECK: vector.load %[[X]]
// CHECK: return
func.func @step(%x: tensor<?x256xbf16>, %i: tensor<?x8xi32>, %dw: tensor<?x8xf32>,
    %dl: tensor<f32>) -> tensor<?x256xf32> {
  %g = moe.route_grad sigmoid %x, %i, %dw {normalize, scale = 2.5 : f32}
      : tensor<?x256xbf16>, tensor<?x8xi32>, tensor<?x8xf32> -> tensor<?x256xf32>
  %a = moe.aux_loss_grad sigmoid %x, %i, %dl {seq_len = 4096, normalize}
      : tensor<?x256xbf16>, tensor<?x8xi32>, tensor<f32> -> tensor<?x256xf32>
  %dx = arith.addf %g, %a : tensor<?x256xf32>
  return %dx : tensor<?x256xf32>
}

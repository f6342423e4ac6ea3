// RUN: moe-opt %s --moe-fuse-training -split-input-file | FileCheck %s

// The sum of the two gradients becomes one op that carries the attributes of
// both: normalize/scale of the routing gradient, seq_len/normalize (as
// aux_normalize) of the balance loss.
// CHECK-LABEL: func.func @fuse(
// CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<?x256xbf16>, %[[I:[a-z0-9]+]]: tensor<?x8xi32>, %[[DW:[a-z0-9]+]]: tensor<?x8xf32>, %[[DL:[a-z0-9]+]]: tensor<f32>)
// CHECK-NEXT: %[[DX:.*]] = moe.route_aux_grad sigmoid %[[X]], %[[I]], %[[DW]], %[[DL]] {aux_normalize, normalize, scale = 2.500000e+00 : f32, seq_len = 4096 : i64} : tensor<?x256xbf16>, tensor<?x8xi32>, tensor<?x8xf32>, tensor<f32> -> tensor<?x256xf32>
// CHECK-NEXT: return %[[DX]]
func.func @fuse(%x: tensor<?x256xbf16>, %i: tensor<?x8xi32>, %dw: tensor<?x8xf32>,
    %dl: tensor<f32>) -> tensor<?x256xf32> {
  %g = moe.route_grad sigmoid %x, %i, %dw {normalize, scale = 2.5 : f32}
      : tensor<?x256xbf16>, tensor<?x8xi32>, tensor<?x8xf32> -> tensor<?x256xf32>
  %a = moe.aux_loss_grad sigmoid %x, %i, %dl {seq_len = 4096, normalize}
      : tensor<?x256xbf16>, tensor<?x8xi32>, tensor<f32> -> tensor<?x256xf32>
  %dx = arith.addf %g, %a : tensor<?x256xf32>
  return %dx : tensor<?x256xf32>
}

// -----

// Either order; defaults stay defaults.
// CHECK-LABEL: func.func @fuse_swapped
// CHECK-NEXT: %[[DX:.*]] = moe.route_aux_grad softmax %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<4x16xf32>, tensor<4x2xi64>, tensor<4x2xf32>, tensor<f32> -> tensor<4x16xf32>
// CHECK-NEXT: return %[[DX]]
func.func @fuse_swapped(%x: tensor<4x16xf32>, %i: tensor<4x2xi64>, %dw: tensor<4x2xf32>,
    %dl: tensor<f32>) -> tensor<4x16xf32> {
  %a = moe.aux_loss_grad softmax %x, %i, %dl
      : tensor<4x16xf32>, tensor<4x2xi64>, tensor<f32> -> tensor<4x16xf32>
  %g = moe.route_grad softmax %x, %i, %dw
      : tensor<4x16xf32>, tensor<4x2xi64>, tensor<4x2xf32> -> tensor<4x16xf32>
  %dx = arith.addf %a, %g : tensor<4x16xf32>
  return %dx : tensor<4x16xf32>
}

// -----

// Different score functions: not fused.
// CHECK-LABEL: func.func @different_function
// CHECK: moe.route_grad sigmoid
// CHECK: moe.aux_loss_grad softmax
// CHECK: arith.addf
// CHECK-NOT: moe.route_aux_grad
func.func @different_function(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>,
    %dw: tensor<?x2xf32>, %dl: tensor<f32>) -> tensor<?x16xf32> {
  %g = moe.route_grad sigmoid %x, %i, %dw
      : tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x16xf32>
  %a = moe.aux_loss_grad softmax %x, %i, %dl
      : tensor<?x16xf32>, tensor<?x2xi32>, tensor<f32> -> tensor<?x16xf32>
  %dx = arith.addf %g, %a : tensor<?x16xf32>
  return %dx : tensor<?x16xf32>
}

// -----

// Different logits: not fused.
// CHECK-LABEL: func.func @different_logits
// CHECK: arith.addf
// CHECK-NOT: moe.route_aux_grad
func.func @different_logits(%x: tensor<?x16xf32>, %y: tensor<?x16xf32>,
    %i: tensor<?x2xi32>, %dw: tensor<?x2xf32>, %dl: tensor<f32>) -> tensor<?x16xf32> {
  %g = moe.route_grad sigmoid %x, %i, %dw
      : tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x16xf32>
  %a = moe.aux_loss_grad sigmoid %y, %i, %dl
      : tensor<?x16xf32>, tensor<?x2xi32>, tensor<f32> -> tensor<?x16xf32>
  %dx = arith.addf %g, %a : tensor<?x16xf32>
  return %dx : tensor<?x16xf32>
}

// -----

// Different indices: not fused.
// CHECK-LABEL: func.func @different_indices
// CHECK: arith.addf
// CHECK-NOT: moe.route_aux_grad
func.func @different_indices(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>,
    %j: tensor<?x2xi32>, %dw: tensor<?x2xf32>, %dl: tensor<f32>) -> tensor<?x16xf32> {
  %g = moe.route_grad sigmoid %x, %i, %dw
      : tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x16xf32>
  %a = moe.aux_loss_grad sigmoid %x, %j, %dl
      : tensor<?x16xf32>, tensor<?x2xi32>, tensor<f32> -> tensor<?x16xf32>
  %dx = arith.addf %g, %a : tensor<?x16xf32>
  return %dx : tensor<?x16xf32>
}

// -----

// A gradient with another user is computed anyway: not fused.
// CHECK-LABEL: func.func @other_user
// CHECK: %[[G:.*]] = moe.route_grad
// CHECK: moe.aux_loss_grad
// CHECK: arith.addf
// CHECK-NOT: moe.route_aux_grad
// CHECK: return %{{.*}}, %[[G]]
func.func @other_user(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>,
    %dw: tensor<?x2xf32>, %dl: tensor<f32>) -> (tensor<?x16xf32>, tensor<?x16xf32>) {
  %g = moe.route_grad sigmoid %x, %i, %dw
      : tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x16xf32>
  %a = moe.aux_loss_grad sigmoid %x, %i, %dl
      : tensor<?x16xf32>, tensor<?x2xi32>, tensor<f32> -> tensor<?x16xf32>
  %dx = arith.addf %g, %a : tensor<?x16xf32>
  return %dx, %g : tensor<?x16xf32>, tensor<?x16xf32>
}

// -----

// Two routing gradients (or an unrelated sum): not fused.
// CHECK-LABEL: func.func @two_route_grads
// CHECK-COUNT-2: moe.route_grad
// CHECK: arith.addf
// CHECK-NOT: moe.route_aux_grad
func.func @two_route_grads(%x: tensor<?x16xf32>, %i: tensor<?x2xi32>,
    %dw: tensor<?x2xf32>) -> tensor<?x16xf32> {
  %g = moe.route_grad sigmoid %x, %i, %dw
      : tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x16xf32>
  %h = moe.route_grad sigmoid %x, %i, %dw {normalize}
      : tensor<?x16xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x16xf32>
  %dx = arith.addf %g, %h : tensor<?x16xf32>
  return %dx : tensor<?x16xf32>
}

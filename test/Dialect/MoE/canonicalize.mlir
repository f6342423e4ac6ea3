// RUN: moe-opt %s -canonicalize -split-input-file | FileCheck %s

// A zero rate leaves the bias unchanged, for both rules and with centring.
// CHECK-LABEL: func.func @update_bias_zero_rate
// CHECK-SAME: (%[[B:[a-z0-9]+]]: tensor<8xf32>, %{{.*}}: tensor<8xi32>, %[[B2:[a-z0-9]+]]: tensor<2x8xf32>
// CHECK-NOT: moe.update_bias
// CHECK: return %[[B]], %[[B2]]
func.func @update_bias_zero_rate(%b: tensor<8xf32>, %c: tensor<8xi32>,
    %b2: tensor<2x8xf32>, %c2: tensor<2x8xf32>) -> (tensor<8xf32>, tensor<2x8xf32>) {
  %0 = moe.update_bias sign %b, %c {rate = 0.0 : f32} : tensor<8xf32>, tensor<8xi32>
  %1 = moe.update_bias linear %b2, %c2 {rate = 0.0 : f32, center} : tensor<2x8xf32>, tensor<2x8xf32>
  return %0, %1 : tensor<8xf32>, tensor<2x8xf32>
}

// -----

// A non-zero rate is kept.
// CHECK-LABEL: func.func @update_bias_nonzero_rate
// CHECK: %[[U:.*]] = moe.update_bias sign
// CHECK: return %[[U]]
func.func @update_bias_nonzero_rate(%b: tensor<8xf32>, %c: tensor<8xi32>) -> tensor<8xf32> {
  %0 = moe.update_bias sign %b, %c {rate = 1.0e-03 : f32} : tensor<8xf32>, tensor<8xi32>
  return %0 : tensor<8xf32>
}

// -----

// A uniform load (all-zero included) has MaxVio exactly 0.
// CHECK-LABEL: func.func @imbalance_splat
// CHECK: %[[Z:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NOT: moe.imbalance
// CHECK: return %[[Z]], %[[Z]]
func.func @imbalance_splat() -> (f32, f32) {
  %c = arith.constant dense<7> : tensor<64xi32>
  %z = arith.constant dense<0.0> : tensor<16xf32>
  %0 = moe.imbalance %c : tensor<64xi32> -> f32
  %1 = moe.imbalance %z : tensor<16xf32> -> f32
  return %0, %1 : f32, f32
}

// -----

// A non-uniform constant load is not folded.
// CHECK-LABEL: func.func @imbalance_not_splat
// CHECK: moe.imbalance
func.func @imbalance_not_splat() -> f32 {
  %c = arith.constant dense<[1, 2, 3, 4]> : tensor<4xi32>
  %0 = moe.imbalance %c : tensor<4xi32> -> f32
  return %0 : f32
}

// -----

// Unused moe ops are pure and disappear.
// CHECK-LABEL: func.func @dead_ops
// CHECK-NOT: moe.
// CHECK: return
func.func @dead_ops(%x: tensor<?x8xf32>) {
  %s = moe.score sigmoid %x : tensor<?x8xf32> -> tensor<?x8xf32>
  %w, %i = moe.topk %s {k = 2} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// With a static T = 0 the gradients are empty constants and the balance loss
// is 0 (by definition).
// CHECK-LABEL: func.func @training_no_tokens
// CHECK-DAG: %[[DX:.*]] = arith.constant dense<> : tensor<0x8xf32>
// CHECK-DAG: %[[DXB:.*]] = arith.constant dense<> : tensor<0x8xbf16>
// CHECK-DAG: %[[L:.*]] = arith.constant dense<0.000000e+00> : tensor<f32>
// CHECK-NOT: moe.
// CHECK: return %[[DXB]], %[[L]], %[[DX]], %[[DX]]
func.func @training_no_tokens(%x: tensor<0x8xbf16>, %i: tensor<0x2xi32>,
    %dw: tensor<0x2xf32>, %dl: tensor<f32>)
    -> (tensor<0x8xbf16>, tensor<f32>, tensor<0x8xf32>, tensor<0x8xf32>) {
  %0 = moe.route_grad sigmoid %x, %i, %dw {normalize}
      : tensor<0x8xbf16>, tensor<0x2xi32>, tensor<0x2xf32> -> tensor<0x8xbf16>
  %1 = moe.aux_loss softmax %x, %i : tensor<0x8xbf16>, tensor<0x2xi32> -> tensor<f32>
  %2 = moe.aux_loss_grad sigmoid %x, %i, %dl {seq_len = 4}
      : tensor<0x8xbf16>, tensor<0x2xi32>, tensor<f32> -> tensor<0x8xf32>
  %3 = moe.route_aux_grad sqrtsoftplus %x, %i, %dw, %dl
      : tensor<0x8xbf16>, tensor<0x2xi32>, tensor<0x2xf32>, tensor<f32> -> tensor<0x8xf32>
  return %0, %1, %2, %3 : tensor<0x8xbf16>, tensor<f32>, tensor<0x8xf32>, tensor<0x8xf32>
}

// -----

// Any token, or a zero upstream gradient, keeps the ops: a NaN logit still
// makes its gradient NaN, so zero gradients do not fold.
// CHECK-LABEL: func.func @training_kept
// CHECK: moe.route_grad
// CHECK: moe.aux_loss
// CHECK: moe.aux_loss_grad
func.func @training_kept(%x: tensor<?x8xf32>, %i: tensor<?x2xi32>)
    -> (tensor<?x8xf32>, tensor<f32>, tensor<?x8xf32>) {
  %c0 = arith.constant 0 : index
  %t = tensor.dim %x, %c0 : tensor<?x8xf32>
  %z = arith.constant 0.0 : f32
  %dw = tensor.splat %z[%t] : tensor<?x2xf32>
  %dl = arith.constant dense<0.0> : tensor<f32>
  %0 = moe.route_grad sigmoid %x, %i, %dw
      : tensor<?x8xf32>, tensor<?x2xi32>, tensor<?x2xf32> -> tensor<?x8xf32>
  %1 = moe.aux_loss sigmoid %x, %i : tensor<?x8xf32>, tensor<?x2xi32> -> tensor<f32>
  %2 = moe.aux_loss_grad sigmoid %x, %i, %dl
      : tensor<?x8xf32>, tensor<?x2xi32>, tensor<f32> -> tensor<?x8xf32>
  return %0, %1, %2 : tensor<?x8xf32>, tensor<f32>, tensor<?x8xf32>
}

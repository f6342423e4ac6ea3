// RUN: moe-opt %s -one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" -canonicalize -split-input-file | FileCheck %s

// Results are new allocations sized from the operands; the ops become their
// destination-passing buffer forms.
// CHECK-LABEL: func.func @route(
// CHECK-SAME: %[[X:.*]]: memref<?x256xbf16>, %[[B:.*]]: memref<256xf32>)
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK: %[[T:.*]] = memref.dim %[[X]], %[[C0]]
// CHECK: %[[W:.*]] = memref.alloc(%[[T]]) {{.*}}: memref<?x8xf32>
// CHECK: %[[I:.*]] = memref.alloc(%[[T]]) {{.*}}: memref<?x8xi32>
// CHECK: %[[C:.*]] = memref.alloc() {{.*}}: memref<256xi32>
// CHECK: moe.buffer.route sigmoid ins(%[[X]] : memref<?x256xbf16>) bias(%[[B]] : memref<256xf32>) outs(%[[W]], %[[I]], %[[C]] : memref<?x8xf32>, memref<?x8xi32>, memref<256xi32>) {k = 8 : i64, normalize, num_groups = 8 : i64, scale = 2.500000e+00 : f32, topk_groups = 4 : i64}
// CHECK: return %[[W]], %[[I]], %[[C]]
func.func @route(%x: tensor<?x256xbf16>, %b: tensor<256xf32>)
    -> (tensor<?x8xf32>, tensor<?x8xi32>, tensor<256xi32>) {
  %w, %i, %c = moe.route sigmoid %x bias(%b)
      {k = 8, num_groups = 8, topk_groups = 4, normalize, scale = 2.5 : f32}
      : tensor<?x256xbf16>, tensor<256xf32>
      -> tensor<?x8xf32>, tensor<?x8xi32>, tensor<256xi32>
  return %w, %i, %c : tensor<?x8xf32>, tensor<?x8xi32>, tensor<256xi32>
}

// -----

// With a dynamic T, token_ids has T * K + E * (block - 1) rows.
// CHECK-LABEL: func.func @dispatch(
// CHECK-SAME: %[[IDX:.*]]: memref<?x8xi32>)
// CHECK-DAG: %[[PAD:.*]] = arith.constant 4032 : index
// CHECK-DAG: %[[K:.*]] = arith.constant 8 : index
// CHECK: %[[T:.*]] = memref.dim %[[IDX]]
// CHECK: %[[TK:.*]] = arith.muli %[[T]], %[[K]]
// CHECK: %[[P:.*]] = arith.addi %[[TK]], %[[PAD]]
// CHECK: %[[O:.*]] = memref.alloc() {{.*}}: memref<65xi32>
// CHECK: %[[TI:.*]] = memref.alloc(%[[P]]) {{.*}}: memref<?xi32>
// CHECK: %[[S:.*]] = memref.alloc(%[[T]]) {{.*}}: memref<?x8xi32>
// CHECK: moe.buffer.dispatch ins(%[[IDX]] : memref<?x8xi32>) outs(%[[O]], %[[TI]], %[[S]] : memref<65xi32>, memref<?xi32>, memref<?x8xi32>) {block = 64 : i64, num_experts = 64 : i64}
func.func @dispatch(%i: tensor<?x8xi32>) -> (tensor<65xi32>, tensor<?xi32>, tensor<?x8xi32>) {
  %o, %t, %s = moe.dispatch %i {num_experts = 64, block = 64}
      : tensor<?x8xi32> -> tensor<65xi32>, tensor<?xi32>, tensor<?x8xi32>
  return %o, %t, %s : tensor<65xi32>, tensor<?xi32>, tensor<?x8xi32>
}

// -----

// A scalar result needs no allocation; permute sizes its rows from the
// token ids and its width from the input.
// CHECK-LABEL: func.func @imbalance_permute(
// CHECK-SAME: %[[C:.*]]: memref<16xi64>, %[[X:.*]]: memref<?x?xf16>, %[[T:.*]]: memref<?xi32>)
// CHECK: %[[V:.*]] = moe.buffer.imbalance ins(%[[C]] : memref<16xi64>) -> f32
// CHECK: %[[P:.*]] = memref.dim %[[T]], %{{.*}}
// CHECK: %[[H:.*]] = memref.dim %[[X]], %{{.*}}
// CHECK: %[[XG:.*]] = memref.alloc(%[[P]], %[[H]]) {{.*}}: memref<?x?xf16>
// CHECK: moe.buffer.permute ins(%[[X]], %[[T]] : memref<?x?xf16>, memref<?xi32>) outs(%[[XG]] : memref<?x?xf16>)
// CHECK: return %[[V]], %[[XG]]
func.func @imbalance_permute(%c: tensor<16xi64>, %x: tensor<?x?xf16>, %t: tensor<?xi32>)
    -> (f32, tensor<?x?xf16>) {
  %v = moe.imbalance %c : tensor<16xi64> -> f32
  %xg = moe.permute %x, %t : tensor<?x?xf16>, tensor<?xi32> -> tensor<?x?xf16>
  return %v, %xg : f32, tensor<?x?xf16>
}

// -----

// The training ops read their operands in place; gradients are new [T, E]
// allocations sized from the logits, the loss a rank-0 allocation.
// CHECK-LABEL: func.func @training(
// CHECK-SAME: %[[X:.*]]: memref<?x64xbf16>, %[[I:.*]]: memref<?x4xi64>, %[[DW:.*]]: memref<?x4xf32>, %[[DL:.*]]: memref<f32>)
// CHECK: %[[T:.*]] = memref.dim %[[X]], %{{.*}}
// CHECK: %[[G:.*]] = memref.alloc(%[[T]]) {{.*}}: memref<?x64xbf16>
// CHECK: moe.buffer.route_grad softmax ins(%[[X]], %[[I]], %[[DW]] : memref<?x64xbf16>, memref<?x4xi64>, memref<?x4xf32>) outs(%[[G]] : memref<?x64xbf16>) {normalize, scale = 2.000000e+00 : f32}
// CHECK: %[[L:.*]] = memref.alloc() {{.*}}: memref<f32>
// CHECK: moe.buffer.aux_loss sigmoid ins(%[[X]], %[[I]] : memref<?x64xbf16>, memref<?x4xi64>) outs(%[[L]] : memref<f32>) {normalize, seq_len = 16 : i64}
// CHECK: %[[A:.*]] = memref.alloc(%{{.*}}) {{.*}}: memref<?x64xf32>
// CHECK: moe.buffer.aux_loss_grad sigmoid ins(%[[X]], %[[I]], %[[DL]] : memref<?x64xbf16>, memref<?x4xi64>, memref<f32>) outs(%[[A]] : memref<?x64xf32>) {seq_len = 16 : i64}
// CHECK: %[[F:.*]] = memref.alloc(%{{.*}}) {{.*}}: memref<?x64xf32>
// CHECK: moe.buffer.route_aux_grad sqrtsoftplus ins(%[[X]], %[[I]], %[[DW]], %[[DL]] : memref<?x64xbf16>, memref<?x4xi64>, memref<?x4xf32>, memref<f32>) outs(%[[F]] : memref<?x64xf32>) {aux_normalize}
// CHECK: return %[[G]], %[[L]], %[[A]], %[[F]]
func.func @training(%x: tensor<?x64xbf16>, %i: tensor<?x4xi64>,
    %dw: tensor<?x4xf32>, %dl: tensor<f32>)
    -> (tensor<?x64xbf16>, tensor<f32>, tensor<?x64xf32>, tensor<?x64xf32>) {
  %0 = moe.route_grad softmax %x, %i, %dw {normalize, scale = 2.0 : f32}
      : tensor<?x64xbf16>, tensor<?x4xi64>, tensor<?x4xf32> -> tensor<?x64xbf16>
  %1 = moe.aux_loss sigmoid %x, %i {seq_len = 16, normalize}
      : tensor<?x64xbf16>, tensor<?x4xi64> -> tensor<f32>
  %2 = moe.aux_loss_grad sigmoid %x, %i, %dl {seq_len = 16}
      : tensor<?x64xbf16>, tensor<?x4xi64>, tensor<f32> -> tensor<?x64xf32>
  %3 = moe.route_aux_grad sqrtsoftplus %x, %i, %dw, %dl {aux_normalize}
      : tensor<?x64xbf16>, tensor<?x4xi64>, tensor<?x4xf32>, tensor<f32> -> tensor<?x64xf32>
  return %0, %1, %2, %3 : tensor<?x64xbf16>, tensor<f32>, tensor<?x64xf32>, tensor<?x64xf32>
}

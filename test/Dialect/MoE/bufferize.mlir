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

// RUN: moe-opt %s -moe-fuse-routing -split-input-file | FileCheck %s

// The full chain: score -> topk -> normalize -> load.
// CHECK-LABEL: func.func @full_chain
// CHECK-SAME: (%[[X:.*]]: tensor<?x256xbf16>, %[[B:.*]]: tensor<256xf32>)
// CHECK-NEXT: %[[W:.*]], %[[I:.*]], %[[C:.*]] = moe.route sigmoid %[[X]] bias(%[[B]]) {k = 8 : i64, normalize, num_groups = 8 : i64, scale = 2.500000e+00 : f32, topk_groups = 4 : i64} : tensor<?x256xbf16>, tensor<256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>, tensor<256xi32>
// CHECK-NEXT: return %[[W]], %[[I]], %[[C]]
func.func @full_chain(%x: tensor<?x256xbf16>, %b: tensor<256xf32>)
    -> (tensor<?x8xf32>, tensor<?x8xi32>, tensor<256xi32>) {
  %s = moe.score sigmoid %x : tensor<?x256xbf16> -> tensor<?x256xf32>
  %w, %i = moe.topk %s bias(%b) {k = 8, num_groups = 8, topk_groups = 4}
      : tensor<?x256xf32>, tensor<256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  %wn = moe.normalize %w {scale = 2.5 : f32} : tensor<?x8xf32>
  %c = moe.load %i {num_experts = 256} : tensor<?x8xi32> -> tensor<256xi32>
  return %wn, %i, %c : tensor<?x8xf32>, tensor<?x8xi32>, tensor<256xi32>
}

// -----

// score -> topk only: the route's counts are unused, the weights unscaled.
// CHECK-LABEL: func.func @score_topk
// CHECK-NEXT: %[[W:.*]], %[[I:.*]], %{{.*}} = moe.route softmax %{{.*}} {k = 2 : i64} : tensor<?x64xf32> -> tensor<?x2xf32>, tensor<?x2xi64>, tensor<64xi32>
// CHECK-NEXT: return %[[W]], %[[I]]
func.func @score_topk(%x: tensor<?x64xf32>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  %s = moe.score softmax %x : tensor<?x64xf32> -> tensor<?x64xf32>
  %w, %i = moe.topk %s {k = 2} : tensor<?x64xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %w, %i : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

// score -> topk -> load with i64 counts.
// CHECK-LABEL: func.func @score_topk_load
// CHECK-NEXT: %[[W:.*]], %{{.*}}, %[[C:.*]] = moe.route sqrtsoftplus %{{.*}} {k = 2 : i64} : tensor<?x64xf32> -> tensor<?x2xf32>, tensor<?x2xi32>, tensor<64xi64>
// CHECK-NEXT: return %[[W]], %[[C]]
func.func @score_topk_load(%x: tensor<?x64xf32>) -> (tensor<?x2xf32>, tensor<64xi64>) {
  %s = moe.score sqrtsoftplus %x : tensor<?x64xf32> -> tensor<?x64xf32>
  %w, %i = moe.topk %s {k = 2} : tensor<?x64xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %c = moe.load %i {num_experts = 64} : tensor<?x2xi32> -> tensor<64xi64>
  return %w, %c : tensor<?x2xf32>, tensor<64xi64>
}

// -----

// Intermediates with other users are not lost: the scores stay, and raw
// weights read elsewhere keep the normalize outside the route.
// CHECK-LABEL: func.func @shared_intermediates
// CHECK: %[[S:.*]] = moe.score sigmoid %[[X:.*]] :
// CHECK: %[[W:.*]], %[[I:.*]], %[[C:.*]] = moe.route sigmoid %[[X]] {k = 2 : i64}
// CHECK: %[[WN:.*]] = moe.normalize %[[W]] {scale = 2.000000e+00 : f32}
// CHECK: return %[[S]], %[[W]], %[[WN]], %[[C]]
func.func @shared_intermediates(%x: tensor<?x16xf32>)
    -> (tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<16xi32>) {
  %s = moe.score sigmoid %x : tensor<?x16xf32> -> tensor<?x16xf32>
  %w, %i = moe.topk %s {k = 2} : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %wn = moe.normalize %w {scale = 2.0 : f32} : tensor<?x2xf32>
  %c = moe.load %i {num_experts = 16} : tensor<?x2xi32> -> tensor<16xi32>
  return %s, %w, %wn, %c : tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<16xi32>
}

// -----

// A masked load is not the route's count: it stays, reading the route's
// indices.
// CHECK-LABEL: func.func @masked_load_stays
// CHECK: %{{.*}}, %[[I:.*]], %{{.*}} = moe.route sigmoid
// CHECK: moe.load %[[I]] mask(%{{.*}}) {num_experts = 16 : i64}
func.func @masked_load_stays(%x: tensor<?x16xf32>, %m: tensor<?xi1>) -> tensor<16xi32> {
  %s = moe.score sigmoid %x : tensor<?x16xf32> -> tensor<?x16xf32>
  %w, %i = moe.topk %s {k = 2} : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %c = moe.load %i mask(%m) {num_experts = 16} : tensor<?x2xi32>, tensor<?xi1> -> tensor<16xi32>
  return %c : tensor<16xi32>
}

// -----

// topk of scores that are not a moe.score is left alone.
// CHECK-LABEL: func.func @no_score
// CHECK-NOT: moe.route
// CHECK: moe.topk
func.func @no_score(%s: tensor<?x16xf32>) -> tensor<?x2xi32> {
  %w, %i = moe.topk %s {k = 2} : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %i : tensor<?x2xi32>
}

// -----

// score -> topk -> normalize, no load: the normalisation folds in; the counts
// are computed but unused.
// CHECK-LABEL: func.func @score_topk_normalize
// CHECK-NEXT: %[[W:.*]], %[[I:.*]], %{{.*}} = moe.route sigmoid %{{.*}} bias(%{{.*}}) {k = 2 : i64, normalize, scale = 1.500000e+00 : f32} : tensor<7x32xf16>, tensor<32xf32> -> tensor<7x2xf32>, tensor<7x2xi32>, tensor<32xi32>
// CHECK-NEXT: return %[[W]], %[[I]]
func.func @score_topk_normalize(%x: tensor<7x32xf16>, %b: tensor<32xf32>)
    -> (tensor<7x2xf32>, tensor<7x2xi32>) {
  %s = moe.score sigmoid %x : tensor<7x32xf16> -> tensor<7x32xf32>
  %w, %i = moe.topk %s bias(%b) {k = 2} : tensor<7x32xf32>, tensor<32xf32> -> tensor<7x2xf32>, tensor<7x2xi32>
  %wn = moe.normalize %w {scale = 1.5 : f32} : tensor<7x2xf32>
  return %wn, %i : tensor<7x2xf32>, tensor<7x2xi32>
}

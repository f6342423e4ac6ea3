// RUN: moe-opt %s -convert-moe-to-gpu="host-copies=0" -canonicalize -cse -split-input-file | FileCheck %s
// RUN: moe-opt %s -convert-moe-to-gpu -canonicalize -cse -split-input-file | FileCheck %s --check-prefix=COPIES

// The training ops: a warp per token that recomputes the scores from the
// logits (no [T, E] buffer), row sums as warp reductions, the routing
// gradient of each expert gathered from the K pair lanes by index shuffles.

// CHECK-LABEL: func.func @route_grad
// CHECK-NOT:     gpu.alloc
// CHECK:         gpu.launch {{.*}} threads({{.*}}) in (%{{.*}} = %c128, {{.*}}) function(@moe_route_grad_kernel) {
// Softmax: the row maximum and sum of the scores.
// CHECK-COUNT-5:   gpu.shuffle  xor {{.*}} : f32
// CHECK:           math.exp
// Lane j < K loads pair j; the weight w_j comes from the lane of its expert.
// CHECK:           %[[PAIR:.*]] = arith.cmpi ult, %{{.*}}, %c4 : index
// CHECK:           %[[RAW:.*]] = memref.load %{{.*}} : memref<?x4xi32>
// CHECK:           %[[EXPERT:.*]] = arith.select %{{.*}}, %[[RAW]], %c-1_i32 : i32
// CHECK:           gpu.shuffle  idx
// CHECK:           gpu.shuffle  idx
// S and <dw, w>, then the sum over pairs of g_j * w_j (softmax's dot).
// CHECK:           %[[S:.*]] = gpu.subgroup_reduce  add %{{.*}} uniform : (f32) -> f32
// CHECK:           gpu.subgroup_reduce  add %{{.*}} uniform : (f32) -> f32
// CHECK:           arith.cmpf oeq, %[[S]], %{{.*}} : f32
// CHECK:           %[[DOT:.*]] = gpu.subgroup_reduce  add %{{.*}} uniform : (f32) -> f32
// Each lane adds g_j of the pairs on its experts (duplicates add up): the
// loop over the K = 4 pairs is unrolled.
// CHECK-NOT:       scf.for %{{.*}} = %c0 to %c4
// CHECK-COUNT-4:   gpu.shuffle  idx %[[EXPERT]], %{{.*}} : i32
// CHECK:           scf.if
// CHECK:             arith.subf %{{.*}}, %[[DOT]] : f32
// CHECK:             arith.truncf %{{.*}} : f32 to bf16
// CHECK:             memref.store
// CHECK-NOT:     gpu.alloc
// CHECK:         return
func.func @route_grad(%x: memref<?x64xbf16>, %i: memref<?x4xi32>, %dw: memref<?x4xf32>, %dx: memref<?x64xbf16>) {
  moe.buffer.route_grad softmax ins(%x, %i, %dw : memref<?x64xbf16>, memref<?x4xi32>, memref<?x4xf32>)
      outs(%dx : memref<?x64xbf16>) {normalize, scale = 2.5 : f32}
  return
}

// The host copies move only the op's own buffers: no [T, E] scratch.
// COPIES-LABEL: func.func @route_grad
// COPIES-COUNT-4: gpu.alloc
// COPIES-NOT:     gpu.alloc
// COPIES:         gpu.launch {{.*}} function(@moe_route_grad_kernel)

// -----

// The balance loss: blocks count chunks of a sequence's pairs in workgroup
// histograms, added to the sequence's row of a [B, E] i32 buffer with integer
// atomics; a warp per token writes its term to a [T] buffer; one block sums
// the terms in a fixed order (no float atomics).

// CHECK-LABEL: func.func @aux_loss
// CHECK:         %[[T:.*]] = memref.dim %{{.*}}, %c0 : memref<?x64xf32>
// CHECK:         %[[B:.*]] = arith.ceildivui %[[T]], %c16 : index
// CHECK:         %[[COUNTS:.*]] = gpu.alloc  (%[[B]]) : memref<?x64xi32>
// CHECK:         gpu.memset  %[[COUNTS]], %c0_i32 : memref<?x64xi32>, i32
// Chunks of 4096 pairs per sequence of 16 rows of 4 pairs: one.
// CHECK:         %[[CHUNKS:.*]] = arith.ceildivui %{{.*}}, %c4096 : index
// CHECK:         %[[CHUNKS1:.*]] = arith.maxui %[[CHUNKS]], %c1 : index
// CHECK:         %[[GRID:.*]] = arith.muli %[[B]], %[[CHUNKS1]] : index
// CHECK:         gpu.launch blocks({{.*}}) in (%{{.*}} = %[[GRID]], {{.*}} function(@moe_aux_loss_count_kernel) workgroup(%[[HIST:.*]] : memref<64xi32, #gpu.address_space<workgroup>>) {
// CHECK:           memref.atomic_rmw addi %c1_i32, %[[HIST]]
// CHECK:           gpu.barrier
// CHECK:           memref.atomic_rmw addi %{{.*}}, %[[COUNTS]][%{{.*}}, %{{.*}}] : (i32, memref<?x64xi32>) -> i32
// CHECK:         %[[TERMS:.*]] = gpu.alloc  (%[[T]]) : memref<?xf32>
// CHECK:         gpu.launch {{.*}} function(@moe_aux_loss_token_kernel) {
// CHECK:           memref.load %[[COUNTS]]
// CHECK:           gpu.subgroup_reduce  add {{.*}} uniform
// CHECK:           gpu.subgroup_reduce  add {{.*}} uniform
// CHECK:           memref.store %{{.*}}, %[[TERMS]][%{{.*}}] : memref<?xf32>
// CHECK:         gpu.launch blocks({{.*}}) in (%{{.*}} = %c1, {{.*}} function(@moe_aux_loss_sum_kernel) workgroup(%{{.*}} : memref<256xf32, #gpu.address_space<workgroup>>) {
// CHECK:           scf.for %{{.*}} = %{{.*}} to %[[T]] step
// CHECK:             memref.load %[[TERMS]]
// CHECK-COUNT-8:   gpu.barrier
// CHECK:           memref.store %{{.*}}, %{{.*}}[] : memref<f32>
// CHECK:         gpu.dealloc  %[[TERMS]]
// CHECK:         gpu.dealloc  %[[COUNTS]]
// CHECK-NOT:     atomic_rmw addf
// CHECK:         return
func.func @aux_loss(%x: memref<?x64xf32>, %i: memref<?x4xi64>, %l: memref<f32>) {
  moe.buffer.aux_loss sigmoid ins(%x, %i : memref<?x64xf32>, memref<?x4xi64>)
      outs(%l : memref<f32>) {seq_len = 16, normalize}
  return
}

// -----

// The gradient of the balance loss: the counts, then a warp per token
// (without seq_len, one sequence of max(T, 1) rows).

// CHECK-LABEL: func.func @aux_loss_grad
// CHECK:         %[[COUNTS:.*]] = gpu.alloc  (%{{.*}}) : memref<?x40xi32>
// CHECK:         function(@moe_aux_loss_grad_count_kernel)
// CHECK:         gpu.launch {{.*}} function(@moe_aux_loss_grad_kernel) {
// CHECK:           memref.load %{{.*}}[] : memref<f32>
// CHECK:           memref.load %[[COUNTS]]
// CHECK-COUNT-2:   gpu.subgroup_reduce  add {{.*}} uniform
// CHECK:           memref.store %{{.*}} : memref<?x40xf32>
// CHECK:         gpu.dealloc  %[[COUNTS]]
// CHECK-NOT:     gpu.alloc
// CHECK:         return
func.func @aux_loss_grad(%x: memref<?x40xf16>, %i: memref<?x2xi32>, %dl: memref<f32>, %dx: memref<?x40xf32>) {
  moe.buffer.aux_loss_grad sqrtsoftplus ins(%x, %i, %dl : memref<?x40xf16>, memref<?x2xi32>, memref<f32>)
      outs(%dx : memref<?x40xf32>) {normalize}
  return
}

// -----

// Both gradients in one kernel that reads the logits once and writes dx once.

// CHECK-LABEL: func.func @route_aux_grad
// CHECK:         gpu.alloc  (%{{.*}}) : memref<?x256xi32>
// CHECK:         function(@moe_route_aux_grad_count_kernel)
// CHECK-NOT:     gpu.launch
// CHECK:         gpu.launch {{.*}} function(@moe_route_aux_grad_kernel) {
// CHECK-COUNT-8:   memref.load %{{.*}} : memref<?x256xbf16>
// CHECK-NOT:       memref.load %{{.*}} : memref<?x256xbf16>
// CHECK-COUNT-8:   gpu.shuffle  idx
// CHECK-COUNT-8:   memref.store %{{.*}} : memref<?x256xf32>
// CHECK-NOT:     gpu.launch
// CHECK:         return
func.func @route_aux_grad(%x: memref<?x256xbf16>, %i: memref<?x8xi32>, %dw: memref<?x8xf32>, %dl: memref<f32>, %dx: memref<?x256xf32>) {
  moe.buffer.route_aux_grad sigmoid ins(%x, %i, %dw, %dl : memref<?x256xbf16>, memref<?x8xi32>, memref<?x8xf32>, memref<f32>)
      outs(%dx : memref<?x256xf32>) {normalize, scale = 2.5 : f32, seq_len = 4096, aux_normalize}
  return
}

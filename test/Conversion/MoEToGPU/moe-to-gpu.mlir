// RUN: moe-opt %s -convert-moe-to-gpu -canonicalize -cse -split-input-file | FileCheck %s
// RUN: moe-opt %s -convert-moe-to-gpu="host-copies=0" -canonicalize -cse -split-input-file | FileCheck %s --check-prefix=DEVICE
// RUN: moe-opt %s -convert-moe-to-gpu="redux=0" -canonicalize -cse -split-input-file | FileCheck %s --check-prefix=SHUFFLE

// route: device copies of the buffers, counts zeroed by a driver memset (no
// kernel: routing is one launch), then a warp per token (128 threads = 4
// tokens per block) over a grid of 8 blocks per multiprocessor (asked of the
// runtime), grid-stride. Each block zeroes its workgroup histogram and copies
// the bias to workgroup memory once, as vectors of the row layout; each
// lane reads 2 consecutive bf16 logits (64 experts: the widest chunk that
// fills the warp) with one 4-byte load when the rows are aligned to 4 bytes,
// and the same elements one by one otherwise (a second version of the token
// loop). Then warp-wide arg-max rounds and
// global atomics. An arg-max round is
// two warp reductions of integer rank images (the best image, then the lowest
// expert that has it: redux.sync on sm_80+) and one shuffle that brings the
// winner's score from its lane; with redux=0 (older GPUs), a butterfly of
// xor shuffles over (key, index, score, valid).
// CHECK-LABEL: func.func @route(
// CHECK-SAME: %[[X:[a-z0-9]+]]: memref<?x64xbf16>, %{{.*}}: memref<64xf32>, %[[W:[a-z0-9]+]]: memref<?x2xf32>, %[[I:[a-z0-9]+]]: memref<?x2xi32>, %[[C:[a-z0-9]+]]: memref<64xi32>)
// CHECK: %[[DX:.*]] = gpu.alloc (%{{.*}}) : memref<?x64xbf16>
// CHECK: gpu.memcpy %[[DX]], %[[X]]
// CHECK: %[[DB:.*]] = gpu.alloc () : memref<64xf32>
// CHECK: %[[DW:.*]] = gpu.alloc (%{{.*}}) : memref<?x2xf32>
// CHECK-NOT: gpu.memcpy %[[DW]]
// CHECK: %[[DC:.*]] = gpu.alloc () : memref<64xi32>
// CHECK: gpu.memset %[[DC]], %c0_i32 : memref<64xi32>, i32
// CHECK: %[[NEED:.*]] = arith.ceildivui %{{.*}}, %c4 : index
// CHECK: %[[SMS:.*]] = call @moeGpuMultiProcessorCount() : () -> i32
// CHECK: %[[SMSI:.*]] = arith.index_cast %[[SMS]] : i32 to index
// CHECK: %[[MOST:.*]] = arith.muli %[[SMSI]], %c8 : index
// CHECK: %[[BLOCKS:.*]] = arith.minui %[[NEED]], %[[MOST]] : index
// CHECK-NOT: gpu.launch {{.*}} = %c256,
// CHECK: gpu.launch blocks({{.*}}) in (%[[GRID:.*]] = %[[BLOCKS]], {{.*}} threads({{.*}}) in ({{.*}} = %c128, {{.*}} function(@moe_route_kernel) workgroup(%[[HIST:.*]] : memref<64xi32, #gpu.address_space<workgroup>>, %[[BIAS:.*]] : memref<32xvector<2xf32>, #gpu.address_space<workgroup>>)
// CHECK: memref.store %c0_i32, %[[HIST]]
// CHECK: memref.load %[[DB]]
// CHECK: %[[CHUNK:.*]] = vector.from_elements
// CHECK: memref.store %[[CHUNK]], %[[BIAS]]
// CHECK: gpu.barrier
// CHECK: %[[STEP:.*]] = arith.muli %[[GRID]], %c4 : index
// CHECK: %[[PTR:.*]] = memref.extract_aligned_pointer_as_index %[[DX]]
// CHECK: %[[OFF:.*]] = arith.andi %[[PTR]], %c3 : index
// CHECK: %[[ALIGNED:.*]] = arith.cmpi eq, %[[OFF]], %c0 : index
// CHECK: scf.if %[[ALIGNED]] {
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %[[STEP]] {
// CHECK-NOT: memref.load %[[DX]]
// CHECK-NOT: memref.load %[[DB]]
// CHECK: vector.load %[[DX]][%{{.*}}, %{{.*}}] {alignment = 4 : i64} : memref<?x64xbf16>, vector<2xbf16>
// CHECK-NOT: memref.load %[[DX]]
// CHECK-NOT: memref.load %[[DB]]
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: memref.load %[[BIAS]][%{{.*}}] : memref<32xvector<2xf32>, #gpu.address_space<workgroup>>
// CHECK: math.exp
// CHECK-NOT: gpu.shuffle xor
// CHECK: %[[BEST:.*]] = gpu.subgroup_reduce maxsi %{{.*}} uniform : (i32) -> i32
// CHECK: arith.cmpi eq, %{{.*}}, %[[BEST]] : i32
// CHECK: gpu.subgroup_reduce minsi %{{.*}} uniform : (i32) -> i32
// CHECK: %[[LANE:.*]] = arith.andi %{{.*}}, %c31_i32 : i32
// CHECK: gpu.shuffle idx %{{.*}}, %[[LANE]], %c32_i32 : f32
// CHECK: gpu.subgroup_reduce maxsi
// CHECK: gpu.subgroup_reduce minsi
// CHECK: gpu.shuffle idx
// CHECK-NOT: gpu.subgroup_reduce
// CHECK: memref.atomic_rmw addi %c1_i32, %[[HIST]]
// CHECK: } else {
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %[[STEP]] {
// CHECK-NOT: vector.load
// CHECK-COUNT-2: memref.load %[[DX]]
// CHECK: memref.load %[[BIAS]]
// CHECK: memref.atomic_rmw addi %c1_i32, %[[HIST]]
// CHECK: gpu.barrier
// CHECK: memref.atomic_rmw addi %{{.*}}, %[[DC]]
// CHECK: gpu.terminator
// CHECK: gpu.memcpy %[[W]], %[[DW]]
// CHECK: gpu.memcpy %[[C]], %[[DC]]
// CHECK: gpu.dealloc %[[DX]]
// DEVICE-LABEL: func.func @route(
// DEVICE-NOT: gpu.alloc
// DEVICE-NOT: gpu.memcpy
// DEVICE: gpu.launch
// SHUFFLE-LABEL: func.func @route(
// SHUFFLE-NOT: gpu.subgroup_reduce
// SHUFFLE: gpu.shuffle xor %{{.*}}, %c16_i32, %c32_i32 : f32
// SHUFFLE: gpu.shuffle xor %{{.*}}, %c16_i32, %c32_i32 : i32
// SHUFFLE: gpu.shuffle xor %{{.*}}, %c8_i32, %c32_i32 : f32
// SHUFFLE: gpu.shuffle xor %{{.*}}, %c4_i32, %c32_i32 : f32
// SHUFFLE: gpu.shuffle xor %{{.*}}, %c2_i32, %c32_i32 : f32
// SHUFFLE: gpu.shuffle xor %{{.*}}, %c1_i32, %c32_i32 : f32
// SHUFFLE-NOT: gpu.subgroup_reduce
// SHUFFLE: memref.atomic_rmw addi %c1_i32
func.func @route(%x: memref<?x64xbf16>, %b: memref<64xf32>, %w: memref<?x2xf32>,
    %i: memref<?x2xi32>, %c: memref<64xi32>) {
  moe.buffer.route sigmoid ins(%x : memref<?x64xbf16>) bias(%b : memref<64xf32>)
      outs(%w, %i, %c : memref<?x2xf32>, memref<?x2xi32>, memref<64xi32>)
      {k = 2, num_groups = 4, topk_groups = 2, normalize}
  return
}

// -----

// An empty token range launches nothing.
// CHECK-LABEL: func.func @topk_empty_guard(
// CHECK: %[[T:.*]] = memref.dim
// CHECK: %[[NEED:.*]] = arith.ceildivui %[[T]], %c4
// CHECK: %[[BLOCKS:.*]] = arith.minui %[[NEED]],
// CHECK: %[[ANY:.*]] = arith.cmpi ugt, %[[BLOCKS]], %c0
// CHECK: scf.if %[[ANY]] {
// CHECK-NEXT: gpu.launch blocks({{.*}}) in ({{.*}} = %[[BLOCKS]],
func.func @topk_empty_guard(%s: memref<?x96xf32>, %w: memref<?x3xf32>, %i: memref<?x3xi64>) {
  moe.buffer.topk ins(%s : memref<?x96xf32>) outs(%w, %i : memref<?x3xf32>, memref<?x3xi64>) {k = 3}
  return
}

// -----

// load: a workgroup histogram per block; masked tokens and indices outside
// [0, E) are skipped. i64 counts are zeroed by a fill kernel.
// CHECK-LABEL: func.func @load(
// CHECK: gpu.launch
// CHECK: memref.store %c0_i64
// CHECK: gpu.launch {{.*}} workgroup(%[[HIST:.*]] : memref<16xi64, #gpu.address_space<workgroup>>)
// CHECK: gpu.barrier
// CHECK: scf.if
// CHECK: arith.cmpi sge
// CHECK: arith.cmpi slt
// CHECK: memref.atomic_rmw addi %c1_i64, %[[HIST]]
// CHECK: gpu.barrier
// CHECK: memref.atomic_rmw addi
func.func @load(%i: memref<?x2xi32>, %m: memref<?xi1>, %c: memref<16xi64>) {
  moe.buffer.load ins(%i : memref<?x2xi32>) mask(%m : memref<?xi1>)
      outs(%c : memref<16xi64>) {num_experts = 16}
  return
}

// -----

// update_bias: a block per row; the integer sum and the delta mean are block
// tree reductions in workgroup memory.
// CHECK-LABEL: func.func @update_bias(
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %{{.*}}, {{.*}}) threads({{.*}}) in ({{.*}} = %c256, {{.*}}) workgroup(%[[ISUM:.*]] : memref<256xi64, #gpu.address_space<workgroup>>, %[[FSUM:.*]] : memref<256xf32, #gpu.address_space<workgroup>>)
// CHECK: memref.store %{{.*}}, %[[ISUM]]
// CHECK: gpu.barrier
// CHECK: arith.cmpi ult, %{{.*}}, %c128
// CHECK: gpu.barrier
// CHECK: memref.store %{{.*}}, %[[FSUM]]
// CHECK: arith.subf
// CHECK: arith.addf
func.func @update_bias(%b: memref<4x64xf32>, %c: memref<4x64xi32>, %o: memref<4x64xf32>) {
  moe.buffer.update_bias sign ins(%b, %c : memref<4x64xf32>, memref<4x64xi32>)
      outs(%o : memref<4x64xf32>) {rate = 1.0e-03 : f32, center}
  return
}

// -----

// imbalance: one block, the metric copied back to the host.
// CHECK-LABEL: func.func @imbalance(
// CHECK: %[[DEV:.*]] = gpu.alloc () : memref<1xf32>
// CHECK: gpu.launch
// CHECK: %[[HOST:.*]] = memref.alloca() : memref<1xf32>
// CHECK: gpu.memcpy %[[HOST]], %[[DEV]]
// CHECK: %[[V:.*]] = memref.load %[[HOST]]
// CHECK: return %[[V]]
func.func @imbalance(%c: memref<64xi32>) -> f32 {
  %v = moe.buffer.imbalance ins(%c : memref<64xi32>) -> f32
  return %v : f32
}

// -----

// dispatch: the per-expert counts (i64: zeroed by a kernel, then a
// workgroup histogram), the scan (one thread), -1 everywhere (a memset and a
// kernel for the 2-D slots), then each expert's thread fills its rows in
// ascending (t, j). Kernels are named after the op and the step.
// CHECK-LABEL: func.func @dispatch(
// CHECK: gpu.launch {{.*}} function(@moe_dispatch_count_zero_kernel)
// CHECK: gpu.launch {{.*}} function(@moe_dispatch_count_kernel) workgroup(%[[HIST:.*]] : memref<8xi64, #gpu.address_space<workgroup>>)
// CHECK: memref.atomic_rmw addi %c1_i64, %[[HIST]]
// CHECK: gpu.launch {{.*}} function(@moe_dispatch_scan_kernel)
// CHECK: gpu.memset %{{.*}}, %c-1_i32 : memref<?xi32>, i32
// CHECK: gpu.launch {{.*}} function(@moe_dispatch_clear_slots_kernel)
// CHECK: gpu.launch {{.*}} function(@moe_dispatch_fill_kernel)
// CHECK-NOT: gpu.launch
// CHECK: gpu.dealloc
func.func @dispatch(%i: memref<?x2xi32>, %o: memref<9xi32>, %t: memref<?xi32>, %s: memref<?x2xi32>) {
  moe.buffer.dispatch ins(%i : memref<?x2xi32>)
      outs(%o, %t, %s : memref<9xi32>, memref<?xi32>, memref<?x2xi32>) {num_experts = 8, block = 4}
  return
}

// -----

// combine: a block per token, f32 accumulation, one rounding.
// CHECK-LABEL: func.func @combine(
// CHECK: gpu.launch
// CHECK: iter_args(%{{.*}} = %cst) -> (f32)
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: arith.truncf %{{.*}} : f32 to bf16
func.func @combine(%y: memref<?x16xbf16>, %w: memref<?x2xf32>, %s: memref<?x2xi32>, %o: memref<?x16xbf16>) {
  moe.buffer.combine ins(%y, %w, %s : memref<?x16xbf16>, memref<?x2xf32>, memref<?x2xi32>)
      outs(%o : memref<?x16xbf16>)
  return
}

// -----

// Group scoring is a loop over groups and rounds (the slots' availability
// carried in iter_args), with the scores in a private array: 64 groups with
// group_top = 16 do not unroll into 1024 rounds.
// CHECK-LABEL: func.func @many_groups(
// CHECK: gpu.launch
// CHECK: %[[SCORES:.*]] = memref.alloca() : memref<64xf32>
// CHECK: scf.for %[[G:.*]] = %c0 to %c64 step %c1 {
// CHECK: scf.for %{{.*}} = %c0 to %c16 step %c1 iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (f32, i1, i1, i1, i1, i1, i1, i1, i1
// CHECK: gpu.subgroup_reduce maxsi
// CHECK: gpu.subgroup_reduce minsi
// CHECK: memref.store %{{.*}}, %[[SCORES]][%[[G]]]
func.func @many_groups(%s: memref<?x1024xf32>, %w: memref<?x32xf32>, %i: memref<?x32xi32>) {
  moe.buffer.topk ins(%s : memref<?x1024xf32>) outs(%w, %i : memref<?x32xf32>, memref<?x32xi32>)
      {k = 32, num_groups = 64, topk_groups = 2, group_top = 16}
  return
}

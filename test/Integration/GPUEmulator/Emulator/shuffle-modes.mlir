// The emulator's shfl.sync follows the PTX ISA: the source lane and the valid
// flag of each mode, for gpu.shuffle as convert-gpu-to-nvvm lowers it (member
// mask of the first `width` lanes, clamp width - 1, or 32 - width for up).
// The expected rows are CUDA's __shfl_*_sync results for one warp whose lane
// l holds 10 * l, then those of __reduce_{max,min,add}_sync (redux.sync,
// which the pipeline uses for chip=sm_90) on 10 * l - 100, and of an f32 add
// and an unsigned min, which redux.sync does not do (moe-lower-subgroup-reduce
// expands them into shuffles).
// RUN: moe-opt %s --moe-lower-to-gpu-emulator="bufferize=0" | mlir-runner -e main --entry-point-result=void --shared-libs=%emulator_runner_libs | FileCheck %s

module {
  func.func private @printMemrefI32(memref<*xi32>)

  func.func @main() {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c32 = arith.constant 32 : index
    %rows = arith.constant 17 : index
    %dev = gpu.alloc (%rows) : memref<?x32xi32>
    gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
               threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c1, %sz = %c1) {
      %lane = arith.index_cast %tx : index to i32
      %ten = arith.constant 10 : i32
      %v = arith.muli %lane, %ten : i32
      %w32 = arith.constant 32 : i32
      %w16 = arith.constant 16 : i32
      %o1 = arith.constant 1 : i32
      %o2 = arith.constant 2 : i32
      %o3 = arith.constant 3 : i32
      %o7 = arith.constant 7 : i32
      %o8 = arith.constant 8 : i32
      %o16 = arith.constant 16 : i32
      %r0, %p0 = gpu.shuffle xor %v, %o1, %w32 : i32
      %r1, %p1 = gpu.shuffle down %v, %o3, %w32 : i32
      %r2, %p2 = gpu.shuffle up %v, %o2, %w32 : i32
      %r3, %p3 = gpu.shuffle idx %v, %o7, %w32 : i32
      // f32 travels as its bits.
      %f = arith.sitofp %v : i32 to f32
      %rf, %pf = gpu.shuffle xor %f, %o16, %w32 : f32
      %r4 = arith.fptosi %rf : f32 to i32
      %ci = arith.index_cast %tx : index to i32
      %i0 = arith.constant 0 : index
      %i1 = arith.constant 1 : index
      %i2 = arith.constant 2 : index
      %i3 = arith.constant 3 : index
      %i4 = arith.constant 4 : index
      %i5 = arith.constant 5 : index
      %i6 = arith.constant 6 : index
      %i7 = arith.constant 7 : index
      %i8 = arith.constant 8 : index
      %i9 = arith.constant 9 : index
      %i10 = arith.constant 10 : index
      %i11 = arith.constant 11 : index
      memref.store %r0, %dev[%i0, %tx] : memref<?x32xi32>
      memref.store %r1, %dev[%i1, %tx] : memref<?x32xi32>
      memref.store %r2, %dev[%i2, %tx] : memref<?x32xi32>
      memref.store %r3, %dev[%i3, %tx] : memref<?x32xi32>
      memref.store %r4, %dev[%i4, %tx] : memref<?x32xi32>
      %q0 = arith.extui %p0 : i1 to i32
      %q1 = arith.extui %p1 : i1 to i32
      %q2 = arith.extui %p2 : i1 to i32
      %q3 = arith.extui %p3 : i1 to i32
      memref.store %q0, %dev[%i5, %tx] : memref<?x32xi32>
      memref.store %q1, %dev[%i6, %tx] : memref<?x32xi32>
      memref.store %q2, %dev[%i7, %tx] : memref<?x32xi32>
      memref.store %q3, %dev[%i8, %tx] : memref<?x32xi32>
      // Width 16: only the first 16 lanes take part (and may execute it).
      %low = arith.cmpi ult, %ci, %w16 : i32
      %none = arith.constant -7 : i32
      %r5, %q5 = scf.if %low -> (i32, i32) {
        %r, %p = gpu.shuffle xor %v, %o8, %w16 : i32
        %q = arith.extui %p : i1 to i32
        scf.yield %r, %q : i32, i32
      } else {
        scf.yield %none, %none : i32, i32
      }
      %r6, %q6 = scf.if %low -> (i32, i32) {
        %r, %p = gpu.shuffle down %v, %o3, %w16 : i32
        %q = arith.extui %p : i1 to i32
        scf.yield %r, %q : i32, i32
      } else {
        scf.yield %none, %none : i32, i32
      }
      memref.store %r5, %dev[%i9, %tx] : memref<?x32xi32>
      memref.store %r6, %dev[%i10, %tx] : memref<?x32xi32>
      memref.store %q6, %dev[%i11, %tx] : memref<?x32xi32>
      %hundred = arith.constant 100 : i32
      %signed = arith.subi %v, %hundred : i32
      %max = gpu.subgroup_reduce maxsi %signed uniform : (i32) -> i32
      %min = gpu.subgroup_reduce minsi %signed uniform : (i32) -> i32
      %sum = gpu.subgroup_reduce add %signed uniform : (i32) -> i32
      %i12 = arith.constant 12 : index
      %i13 = arith.constant 13 : index
      %i14 = arith.constant 14 : index
      memref.store %max, %dev[%i12, %tx] : memref<?x32xi32>
      memref.store %min, %dev[%i13, %tx] : memref<?x32xi32>
      memref.store %sum, %dev[%i14, %tx] : memref<?x32xi32>
      %fsigned = arith.sitofp %signed : i32 to f32
      %fsum = gpu.subgroup_reduce add %fsigned uniform : (f32) -> f32
      %fsumi = arith.fptosi %fsum : f32 to i32
      %umin = gpu.subgroup_reduce minui %signed uniform : (i32) -> i32
      %i15 = arith.constant 15 : index
      %i16 = arith.constant 16 : index
      memref.store %fsumi, %dev[%i15, %tx] : memref<?x32xi32>
      memref.store %umin, %dev[%i16, %tx] : memref<?x32xi32>
      gpu.terminator
    }
    %host = memref.alloc(%rows) : memref<?x32xi32>
    gpu.memcpy %host, %dev : memref<?x32xi32>, memref<?x32xi32>
    %u = memref.cast %host : memref<?x32xi32> to memref<*xi32>
    call @printMemrefI32(%u) : (memref<*xi32>) -> ()
    return
  }
}
// CHECK: sizes = [17, 32]
// xor 1
// CHECK-NEXT: [10,  0,  30,  20,  50,  40,  70,  60,  90,  80,  110,  100,  130,  120,  150,  140,  170,  160,  190,  180,  210,  200,  230,  220,  250,  240,  270,  260,  290,  280,  310,  300]
// down 3
// CHECK-NEXT: [30,  40,  50,  60,  70,  80,  90,  100,  110,  120,  130,  140,  150,  160,  170,  180,  190,  200,  210,  220,  230,  240,  250,  260,  270,  280,  290,  300,  310,  290,  300,  310]
// up 2
// CHECK-NEXT: [0,  10,  0,  10,  20,  30,  40,  50,  60,  70,  80,  90,  100,  110,  120,  130,  140,  150,  160,  170,  180,  190,  200,  210,  220,  230,  240,  250,  260,  270,  280,  290]
// idx 7
// CHECK-NEXT: [70,  70,  70,  70,  70,  70,  70,  70,  70,  70,  70,  70,  70,  70,  70,  70,  70,  70,  70,  70,  70,  70,  70,  70,  70,  70,  70,  70,  70,  70,  70,  70]
// f32 xor 16
// CHECK-NEXT: [160,  170,  180,  190,  200,  210,  220,  230,  240,  250,  260,  270,  280,  290,  300,  310,  0,  10,  20,  30,  40,  50,  60,  70,  80,  90,  100,  110,  120,  130,  140,  150]
// valid: xor 1
// CHECK-NEXT: [1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1]
// valid: down 3
// CHECK-NEXT: [1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  0,  0,  0]
// valid: up 2
// CHECK-NEXT: [0,  0,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1]
// valid: idx 7
// CHECK-NEXT: [1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1]
// xor 8 within the first 16 lanes
// CHECK-NEXT: [80,  90,  100,  110,  120,  130,  140,  150,  0,  10,  20,  30,  40,  50,  60,  70,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7]
// down 3 within the first 16 lanes
// CHECK-NEXT: [30,  40,  50,  60,  70,  80,  90,  100,  110,  120,  130,  140,  150,  130,  140,  150,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7]
// valid: down 3 within the first 16 lanes
// CHECK-NEXT: [1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  0,  0,  0,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7,  -7]
// redux max, min, add
// CHECK-NEXT: [210,  210,  210,  210,  210,  210,  210,  210,  210,  210,  210,  210,  210,  210,  210,  210,  210,  210,  210,  210,  210,  210,  210,  210,  210,  210,  210,  210,  210,  210,  210,  210]
// CHECK-NEXT: [-100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100,  -100]
// CHECK-NEXT: [1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760]
// f32 add, unsigned min (shuffles)
// CHECK-NEXT: [1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760,  1760]
// CHECK-NEXT: [0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0]

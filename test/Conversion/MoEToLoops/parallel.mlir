// RUN: moe-opt %s -convert-moe-to-loops="parallel=1" -canonicalize -cse -split-input-file | FileCheck %s
// RUN: moe-opt %s -convert-moe-to-loops -split-input-file | FileCheck %s --check-prefix=SERIAL
// RUN: moe-opt %s --moe-lower-to-cpu="bufferize=0 parallel=1" -split-input-file | FileCheck %s --check-prefix=OMP
// RUN: moe-opt %s --moe-lower-to-cpu="bufferize=0" -split-input-file | FileCheck %s --check-prefix=NOOMP

// SERIAL-NOT: scf.parallel
// NOOMP-NOT: omp.
// OMP-LABEL: llvm.func @route(
// OMP: omp.parallel
// OMP: omp.wsloop
// OMP: omp.loop_nest

// Route with parallel=1: chunks of max(ceil(T / 64), 4) tokens in an
// scf.parallel loop. Each chunk has its own heap selection buffers (freed at
// the end of the chunk) and counts into its own zeroed row of a [chunks, E]
// buffer; the rows are added to the counts in chunk order after the loop.
// CHECK-LABEL: func.func @route(
// CHECK-SAME: %[[X:[a-z0-9]+]]: memref<?x16xf32>, %{{.*}}: memref<?x2xf32>, %{{.*}}: memref<?x2xi64>, %[[C:[a-z0-9]+]]: memref<16xi32>)
// CHECK: %[[T:.*]] = memref.dim %[[X]], %c0
// CHECK: %[[CEIL:.*]] = arith.ceildivui %[[T]], %c64
// CHECK: %[[PER:.*]] = arith.maxui %[[CEIL]], %c4
// CHECK: %[[CHUNKS:.*]] = arith.ceildivui %[[T]], %[[PER]]
// CHECK: %[[PARTIAL:.*]] = memref.alloc(%[[CHUNKS]]) : memref<?x16xi32>
// CHECK: scf.parallel (%[[CHUNK:.*]]) = (%c0) to (%[[CHUNKS]]) step (%c1) {
// CHECK-DAG: memref.alloc() {alignment = 64 : i64} : memref<16xf32>
// CHECK-DAG: %[[FIRST:.*]] = arith.muli %[[CHUNK]], %[[PER]]
// CHECK-DAG: %[[NEXT:.*]] = arith.addi %[[FIRST]], %[[PER]]
// CHECK-DAG: %[[END:.*]] = arith.minui %[[NEXT]], %[[T]]
// CHECK-DAG: %[[ROW:.*]] = memref.subview %[[PARTIAL]][%[[CHUNK]], 0] [1, 16] [1, 1]
// CHECK: scf.for %{{.*}} = %[[FIRST]] to %{{.*}} step %c2
// CHECK: memref.store %{{.*}}, %[[ROW]][%{{.*}}]
// CHECK: memref.dealloc
// CHECK: scf.reduce
// CHECK: scf.for %[[K:.*]] = %c0 to %[[CHUNKS]] step %c1 {
// CHECK: scf.for %[[E:.*]] = %c0 to %c16 step %c1 {
// CHECK-DAG: %[[PART:.*]] = memref.load %[[PARTIAL]][%[[K]], %[[E]]]
// CHECK-DAG: %[[OLD:.*]] = memref.load %[[C]][%[[E]]]
// CHECK: %[[SUM:.*]] = arith.addi %[[OLD]], %[[PART]]
// CHECK: memref.store %[[SUM]], %[[C]][%[[E]]]
// CHECK: memref.dealloc %[[PARTIAL]]
func.func @route(%x: memref<?x16xf32>, %w: memref<?x2xf32>, %i: memref<?x2xi64>, %c: memref<16xi32>) {
  moe.buffer.route sigmoid ins(%x : memref<?x16xf32>)
      outs(%w, %i, %c : memref<?x2xf32>, memref<?x2xi64>, memref<16xi32>) {k = 2, normalize, scale = 2.5 : f32}
  return
}

// -----

// Normalize: one item per row, in an scf.parallel loop.
// CHECK-LABEL: func.func @normalize(
// CHECK: scf.parallel
// CHECK-NOT: scf.parallel
func.func @normalize(%w: memref<?x4xf32>, %o: memref<?x4xf32>) {
  moe.buffer.normalize ins(%w : memref<?x4xf32>) outs(%o : memref<?x4xf32>) {scale = 2.5 : f32}
  return
}

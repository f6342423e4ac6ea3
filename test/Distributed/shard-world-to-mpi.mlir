// RUN: moe-opt %s --moe-shard-world-to-mpi --split-input-file | FileCheck %s

// A 1-D grid of dynamic size spans all ranks: its collectives run on
// MPI_COMM_WORLD, without a communicator split.
// CHECK-LABEL: func.func @world
// CHECK-SAME: (%[[T:.*]]: tensor<?x8xi32>, %[[M:.*]]: memref<8xf32>)
// CHECK:      %[[TB:.*]] = bufferization.to_buffer %[[T]] read_only : tensor<?x8xi32> to memref<?x8xi32>
// CHECK:      %[[D:.*]] = memref.dim %[[TB]], %{{.*}} : memref<?x8xi32>
// CHECK:      %[[A:.*]] = memref.alloc(%[[D]]) : memref<?x8xi32>
// CHECK:      memref.copy %[[TB]], %[[A]]
// CHECK:      %[[W:.*]] = mpi.comm_world : !mpi.comm
// CHECK-NOT:  mpi.comm_split
// CHECK:      mpi.allreduce(%[[A]], %[[A]], MPI_SUM, %[[W]]) : memref<?x8xi32>, memref<?x8xi32>
// CHECK:      %[[R:.*]] = bufferization.to_tensor %[[A]] restrict writable : memref<?x8xi32> to tensor<?x8xi32>
// CHECK:      %[[B:.*]] = memref.alloc() : memref<8xf32>
// CHECK:      memref.copy %[[M]], %[[B]]
// CHECK:      mpi.allreduce(%[[B]], %[[B]], MPI_MAX, %{{.*}}) : memref<8xf32>, memref<8xf32>
// CHECK:      %{{.*}}, %[[RANK:.*]] = mpi.comm_rank(%{{.*}}) : !mpi.retval, i32
// CHECK:      %[[RI:.*]] = arith.index_cast %[[RANK]] : i32 to index
// CHECK:      %{{.*}}, %[[SIZE:.*]] = mpi.comm_size(%{{.*}}) : !mpi.retval, i32
// CHECK:      %[[SI:.*]] = arith.index_cast %[[SIZE]] : i32 to index
// CHECK:      %{{.*}}, %[[RANK2:.*]] = mpi.comm_rank
// CHECK:      %[[MI:.*]] = arith.index_cast %[[RANK2]] : i32 to index
// CHECK:      return %[[R]], %[[B]], %[[RI]], %[[SI]], %[[MI]]
shard.grid @dp(shape = ?)
func.func @world(%t: tensor<?x8xi32>, %m: memref<8xf32>)
    -> (tensor<?x8xi32>, memref<8xf32>, index, index, index) {
  %a = shard.all_reduce %t on @dp grid_axes = [0] : tensor<?x8xi32> -> tensor<?x8xi32>
  %b = shard.all_reduce %m on @dp grid_axes = [0] reduction = max : memref<8xf32> -> memref<8xf32>
  %r = shard.process_linear_index on @dp : index
  %n = shard.grid_shape @dp : index
  %i = shard.process_multi_index on @dp : index
  return %a, %b, %r, %n, %i : tensor<?x8xi32>, memref<8xf32>, index, index, index
}

// -----

// Static grids and grids with more than one axis are upstream's
// (convert-shard-to-mpi): untouched here.
// CHECK-LABEL: func.func @not_world
// CHECK:      shard.all_reduce %{{.*}} on @g4
// CHECK:      shard.process_linear_index on @g2x
// CHECK-NOT:  mpi.
shard.grid @g4(shape = 4)
shard.grid @g2x(shape = 2x?)
func.func @not_world(%t: tensor<8xi32>) -> (tensor<8xi32>, index) {
  %a = shard.all_reduce %t on @g4 grid_axes = [0] : tensor<8xi32> -> tensor<8xi32>
  %r = shard.process_linear_index on @g2x : index
  return %a, %r : tensor<8xi32>, index
}

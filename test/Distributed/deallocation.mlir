// RUN: moe-opt %s --moe-shard-world-to-mpi --one-shot-bufferize="bufferize-function-boundaries" --buffer-deallocation-pipeline | FileCheck %s

// The buffer that mpi.allreduce reduces is freed after its last use: the
// ownership-based deallocation sees the mpi ops' memory effects (it refuses
// ops with unknown effects), and mpi.init / mpi.finalize stay in order.
// CHECK-LABEL: func.func @step
// CHECK:      mpi.init
// CHECK:      %[[A:.*]] = memref.alloc() : memref<4xi32>
// CHECK:      mpi.allreduce(%[[A]], %[[A]], MPI_SUM
// CHECK:      memref.load %[[A]]
// CHECK:      mpi.finalize
// CHECK:      memref.dealloc %[[A]] : memref<4xi32>
// CHECK:      return
shard.grid @dp(shape = ?)
func.func @step(%c: tensor<4xi32>) -> i32 {
  %0 = mpi.init : !mpi.retval
  %g = shard.all_reduce %c on @dp grid_axes = [0] : tensor<4xi32> -> tensor<4xi32>
  %i = arith.constant 2 : index
  %v = tensor.extract %g[%i] : tensor<4xi32>
  %1 = mpi.finalize : !mpi.retval
  return %v : i32
}

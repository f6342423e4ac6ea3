// RUN: moe-opt %s --moe-convert-mpi-to-llvm --split-input-file | FileCheck %s

// No DLTI entry: the MPICH ABI (int handles; MPI_COMM_WORLD = 0x44000000),
// and mpi.comm_size, which upstream does not lower, calls MPI_Comm_size. The
// entry the pass adds and the grid symbol are gone afterwards.
// CHECK-NOT:  dlti
// CHECK-NOT:  shard.grid
// CHECK-DAG:  llvm.func @MPI_Comm_size(i32, !llvm.ptr) -> i32
// CHECK-DAG:  llvm.func @MPI_Allreduce(!llvm.ptr, !llvm.ptr, i32, i32, i32, i32) -> i32
// CHECK-LABEL: func.func @mpich
// CHECK:      %[[W:.*]] = llvm.mlir.constant(1140850688 : i64) : i64
// CHECK:      %[[W32:.*]] = llvm.trunc %[[W]] : i64 to i32
// CHECK:      %[[ONE:.*]] = llvm.mlir.constant(1 : i32) : i32
// CHECK:      %[[P:.*]] = llvm.alloca %[[ONE]] x i32 : (i32) -> !llvm.ptr
// CHECK:      llvm.call @MPI_Comm_size(%[[W32]], %[[P]]) : (i32, !llvm.ptr) -> i32
// CHECK:      %[[N:.*]] = llvm.load %[[P]] : !llvm.ptr -> i32
// CHECK:      llvm.call @MPI_Allreduce
// CHECK:      return %[[N]] : i32
shard.grid @dp(shape = ?)
func.func @mpich(%m: memref<8xi32>) -> i32 {
  %w = mpi.comm_world : !mpi.comm
  %r, %n = mpi.comm_size(%w) : !mpi.retval, i32
  mpi.allreduce(%m, %m, MPI_SUM, %w) : memref<8xi32>, memref<8xi32>
  return %n : i32
}

// -----

// OpenMPI: pointer handles, and the predefined operations under the names
// the library exports (ompi_mpi_op_sum, not upstream's ompi_mpi_sum). Other
// DLTI entries stay.
// CHECK:      module attributes {dlti.map = #dlti.map<"other" = 1 : i32>}
// CHECK-DAG:  llvm.func @MPI_Comm_size(!llvm.ptr, !llvm.ptr) -> i32
// CHECK-DAG:  llvm.mlir.global external @ompi_mpi_op_sum()
// CHECK-DAG:  llvm.mlir.global external @ompi_mpi_op_max()
// CHECK-DAG:  llvm.mlir.global external @ompi_mpi_comm_world()
// CHECK-NOT:  @ompi_mpi_sum
// CHECK-NOT:  @ompi_mpi_max
// CHECK-LABEL: func.func @openmpi
// CHECK:      %[[W:.*]] = llvm.mlir.addressof @ompi_mpi_comm_world : !llvm.ptr
// CHECK:      %[[WI:.*]] = llvm.ptrtoint %[[W]] : !llvm.ptr to i64
// CHECK:      %[[WP:.*]] = llvm.inttoptr %[[WI]] : i64 to !llvm.ptr
// CHECK:      llvm.call @MPI_Comm_size(%[[WP]], %{{.*}}) : (!llvm.ptr, !llvm.ptr) -> i32
// CHECK:      llvm.mlir.addressof @ompi_mpi_op_sum : !llvm.ptr
// CHECK:      llvm.mlir.addressof @ompi_mpi_op_max : !llvm.ptr
module attributes {dlti.map = #dlti.map<"MPI:Implementation" = "OpenMPI", "other" = 1 : i32>} {
  func.func @openmpi(%m: memref<8xf32>) -> i32 {
    %w = mpi.comm_world : !mpi.comm
    %r, %n = mpi.comm_size(%w) : !mpi.retval, i32
    mpi.allreduce(%m, %m, MPI_SUM, %w) : memref<8xf32>, memref<8xf32>
    mpi.allreduce(%m, %m, MPI_MAX, %w) : memref<8xf32>, memref<8xf32>
    return %n : i32
  }
}

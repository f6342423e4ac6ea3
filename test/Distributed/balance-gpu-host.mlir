// REQUIRES: mpi
// The GPU pipelines' host side: the route kernels write the counts to device
// memory, the host copies bring them back, and the all_reduce runs on those
// host buffers. On the GPU emulator (no GPU needed) every rank must print the
// single-process result; the NVVM pipeline must compile the same program to
// kernels plus MPI calls, with nothing of shard or dlti left.
// RUN: %python %S/dp_balance.py gen loop_1d 4 > %t.1d.mlir
// RUN: moe-opt %t.1d.mlir --moe-lower-to-gpu-emulator -o %t.emu.mlir
// RUN: %mpiexec -n 4 -outfile-pattern=%t.emu.out.%%r mlir-runner %t.emu.mlir -e main --entry-point-result=void --shared-libs=%emulator_runner_libs,%libmpi
// RUN: %python %S/dp_balance.py check loop_1d 4 %t.emu.out
// RUN: %python %S/dp_balance.py gen layers_2d 3 > %t.2d.mlir
// RUN: moe-opt %t.2d.mlir --moe-lower-to-gpu-emulator -o %t.emu2.mlir
// RUN: %mpiexec -n 3 -outfile-pattern=%t.emu2.out.%%r mlir-runner %t.emu2.mlir -e main --entry-point-result=void --shared-libs=%emulator_runner_libs,%libmpi
// RUN: %python %S/dp_balance.py check layers_2d 3 %t.emu2.out
// RUN: moe-opt %t.2d.mlir --moe-lower-to-nvvm="format=isa" | FileCheck %s

// CHECK-NOT: shard.
// CHECK-NOT: dlti
// CHECK-DAG: llvm.func @MPI_Allreduce(!llvm.ptr, !llvm.ptr, i32, i32, i32, i32) -> i32
// CHECK-DAG: llvm.func @MPI_Comm_split
// CHECK-DAG: gpu.binary @
// CHECK-DAG: gpu.launch_func
// CHECK-DAG: llvm.call @MPI_Allreduce
// CHECK-NOT: shard.
// CHECK-NOT: dlti

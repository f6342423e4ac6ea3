// REQUIRES: mpi, cuda
// The same data-parallel loop with the route kernels on an NVIDIA GPU (all
// ranks share it) and the counts summed through host buffers.
// RUN: %python %S/dp_balance.py gen loop_1d 3 > %t.mlir
// RUN: moe-opt %t.mlir --moe-lower-to-nvvm -o %t.ll.mlir
// RUN: %mpiexec -n 3 -outfile-pattern=%t.out.%%r mlir-runner %t.ll.mlir -e main --entry-point-result=void --shared-libs=%cuda_runner_libs,%libmpi
// RUN: %python %S/dp_balance.py check loop_1d 3 %t.out

// REQUIRES: mpi
// Three MoE layers: a [3, 8] bias and [3, 8] counts, all layers summed by one
// shard.all_reduce per step, on a static grid of the job's size (upstream's
// convert-shard-to-mpi). Shards of unequal size, one empty with four ranks;
// every rank must hold the single-process result (the NumPy reference).
// RUN: %python %S/dp_balance.py gen layers_2d 3 > %t.3.mlir
// RUN: moe-opt %t.3.mlir --moe-lower-to-cpu -o %t.3.ll.mlir
// RUN: %mpiexec -n 3 -outfile-pattern=%t.3.out.%%r mlir-runner %t.3.ll.mlir -e main --entry-point-result=void --shared-libs=%runner_libs,%libmpi
// RUN: %python %S/dp_balance.py check layers_2d 3 %t.3.out
// RUN: %python %S/dp_balance.py gen layers_2d 4 > %t.4.mlir
// RUN: moe-opt %t.4.mlir --moe-lower-to-cpu -o %t.4.ll.mlir
// RUN: %mpiexec -n 4 -outfile-pattern=%t.4.out.%%r mlir-runner %t.4.ll.mlir -e main --entry-point-result=void --shared-libs=%runner_libs,%libmpi
// RUN: %python %S/dp_balance.py check layers_2d 4 %t.4.out

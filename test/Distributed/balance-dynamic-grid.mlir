// REQUIRES: mpi
// Data-parallel loss-free balancing on `shard.grid @dp(shape = ?)` (all ranks,
// MPI_COMM_WORLD): every rank routes its own shard (7, 12, 3 tokens; with four
// ranks 7, 12, 0, 9), the counts are summed by shard.all_reduce, and every rank
// must print the global counts of each step and the final bias that one
// process computes on the union of the shards (the NumPy reference).
// RUN: %python %S/dp_balance.py gen loop_1d 3 > %t.3.mlir
// RUN: moe-opt %t.3.mlir --moe-lower-to-cpu -o %t.3.ll.mlir
// RUN: %mpiexec -n 3 -outfile-pattern=%t.3.out.%%r mlir-runner %t.3.ll.mlir -e main --entry-point-result=void --shared-libs=%runner_libs,%libmpi
// RUN: %python %S/dp_balance.py check loop_1d 3 %t.3.out
// RUN: %python %S/dp_balance.py gen loop_1d 4 > %t.4.mlir
// RUN: moe-opt %t.4.mlir --moe-lower-to-cpu -o %t.4.ll.mlir
// RUN: %mpiexec -n 4 -outfile-pattern=%t.4.out.%%r mlir-runner %t.4.ll.mlir -e main --entry-point-result=void --shared-libs=%runner_libs,%libmpi
// RUN: %python %S/dp_balance.py check loop_1d 4 %t.4.out
// The checker fails on output that did not sum across ranks: one rank alone
// sees only its own shard.
// RUN: %mpiexec -n 1 -outfile-pattern=%t.1.out.%%r mlir-runner %t.4.ll.mlir -e main --entry-point-result=void --shared-libs=%runner_libs,%libmpi
// RUN: cp %t.1.out.0 %t.1.out.1 && cp %t.1.out.0 %t.1.out.2 && cp %t.1.out.0 %t.1.out.3
// RUN: not %python %S/dp_balance.py check loop_1d 4 %t.1.out

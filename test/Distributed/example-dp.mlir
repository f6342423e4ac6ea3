// REQUIRES: mpi
// examples/loss_free_balance_dp.mlir (scripts/demo --ranks N): three ranks,
// each routing a third of every batch, must follow the single-process job of
// examples/loss_free_balance.mlir step for step (the same global MaxVio).
// RUN: moe-opt %moe_src_root/examples/loss_free_balance_dp.mlir --moe-lower-to-cpu -o %t.dp.mlir
// RUN: %mpiexec -n 3 mlir-runner %t.dp.mlir -O3 -e main --entry-point-result=void --shared-libs=%runner_libs,%libmpi | cut -d, -f1,2 > %t.dp.txt
// RUN: moe-opt %moe_src_root/examples/loss_free_balance.mlir --moe-lower-to-cpu | mlir-runner -O3 -e main --entry-point-result=void --shared-libs=%runner_libs | cut -d, -f1,2 > %t.one.txt
// RUN: diff %t.dp.txt %t.one.txt
// RUN: FileCheck %s --input-file=%t.dp.txt
// CHECK: 0, 3.05078
// CHECK: 299, 0.10612

// The training loop of examples/loss_free_balance.mlir (a drifting, skewed
// router, 64 experts, top-6, bias rate 1e-3: route + update_bias per step,
// the bias carried from step to step), shortened to 1024 tokens and 60
// steps, through the GPU kernels on the emulator and through the CPU
// lowering. The per-step MaxVio of the two must agree (a near-tie decided
// differently by the two exp implementations moves one count, about 0.01),
// and the bias must lower MaxVio while the run without it stays skewed.
// RUN: sed -e 's/%%steps = arith.constant 300 : index/%%steps = arith.constant 60 : index/' -e 's/%%tokens = arith.constant 16384 : index/%%tokens = arith.constant 1024 : index/' %moe_src_root/examples/loss_free_balance.mlir > %t.mlir
// RUN: grep -q "%%steps = arith.constant 60 : index" %t.mlir
// RUN: grep -q "%%tokens = arith.constant 1024 : index" %t.mlir
// RUN: moe-opt %t.mlir --moe-lower-to-cpu | mlir-runner -e main --entry-point-result=void --shared-libs=%runner_libs > %t.cpu
// RUN: moe-opt %t.mlir --moe-lower-to-gpu-emulator | mlir-runner -e main --entry-point-result=void --shared-libs=%emulator_runner_libs > %t.gpu
// RUN: %python %s.py %t.cpu %t.gpu

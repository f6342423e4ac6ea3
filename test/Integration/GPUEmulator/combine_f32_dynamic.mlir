// Case 'combine_f32_dynamic' of the independent NumPy reference on the GPU emulator: the GPU
// kernels of --moe-lower-to-nvvm (NVVM level) run by moe_gpu_emulator, with
// the program and expected values of test/Integration/CPU/combine_f32_dynamic.mlir. Two thread
// schedules and both warp reductions: fused routing for sm_90 (redux.sync)
// with seed 1, unfused for sm_75 (shuffles) with seed 2; workgroup-memory
// races are checked in both.
// RUN: %moe_ref gen combine_f32_dynamic > %t.mlir
// RUN: moe-opt %t.mlir --moe-lower-to-gpu-emulator="race-check=1" | env MOE_GPU_EMULATOR_SEED=1 mlir-runner -e main --entry-point-result=void --shared-libs=%emulator_runner_libs > %t.fused.out
// RUN: %moe_ref check combine_f32_dynamic %t.fused.out
// RUN: moe-opt %t.mlir --moe-lower-to-gpu-emulator="chip=sm_75 fuse-routing=0 race-check=1" | env MOE_GPU_EMULATOR_SEED=2 mlir-runner -e main --entry-point-result=void --shared-libs=%emulator_runner_libs > %t.unfused.out
// RUN: %moe_ref check combine_f32_dynamic %t.unfused.out

// Even lanes shuffle and odd lanes reduce, each naming the whole warp: they
// wait for each other at different warp operations, which is undefined on a
// GPU (shfl.sync and redux.sync require the same instruction in every lane
// of the mask). The emulator names both lanes and fails.
// RUN: moe-opt %s --moe-lower-to-gpu-emulator="bufferize=0" | not mlir-runner -e main --entry-point-result=void --shared-libs=%emulator_runner_libs 2>&1 | FileCheck %s
// CHECK: moe_gpu_emulator: error: kernel 'main_kernel::main_kernel', block (0, 0, 0): thread (0, 0, 0) (lane 0) (shfl.sync 0, mask 0xffffffff) and lane 1 (redux.sync 5, mask 0xffffffff) wait for each other at different warp operations, qualifiers or member masks

module {
  func.func @main() {
    %c1 = arith.constant 1 : index
    %c32 = arith.constant 32 : index
    %dev = gpu.alloc () : memref<32xi32>
    gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
               threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c1, %sz = %c1) {
      %lane = arith.index_cast %tx : index to i32
      %one = arith.constant 1 : i32
      %w = arith.constant 32 : i32
      %bit = arith.andi %lane, %one : i32
      %even = arith.cmpi ne, %bit, %one : i32
      %r = scf.if %even -> (i32) {
        %s, %p = gpu.shuffle xor %lane, %one, %w : i32
        scf.yield %s : i32
      } else {
        %m = gpu.subgroup_reduce maxsi %lane uniform : (i32) -> i32
        scf.yield %m : i32
      }
      memref.store %r, %dev[%tx] : memref<32xi32>
      gpu.terminator
    }
    return
  }
}

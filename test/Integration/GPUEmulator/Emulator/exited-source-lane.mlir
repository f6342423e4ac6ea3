// Lanes 16-31 have exited; lanes 0-15 shuffle with the full-warp mask, which
// PTX allows (exited lanes are not waited for), but read lanes 16-31, whose
// values are undefined: the emulator names the lane and fails.
// RUN: moe-opt %s --moe-lower-to-gpu-emulator="bufferize=0" | not mlir-runner -e main --entry-point-result=void --shared-libs=%emulator_runner_libs 2>&1 | FileCheck %s
// CHECK: moe_gpu_emulator: error: kernel 'main_kernel::main_kernel', block (0, 0, 0): thread (0, 0, 0) (lane 0) reads lane 16 in shfl.sync (mask 0xffffffff), which does not take part: the value is undefined

module {
  func.func @main() {
    %c1 = arith.constant 1 : index
    %c32 = arith.constant 32 : index
    %dev = gpu.alloc () : memref<32xi32>
    gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
               threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c1, %sz = %c1) {
      %lane = arith.index_cast %tx : index to i32
      %c16 = arith.constant 16 : i32
      %w = arith.constant 32 : i32
      %lower = arith.cmpi ult, %lane, %c16 : i32
      scf.if %lower {
        %r, %p = gpu.shuffle xor %lane, %c16, %w : i32
        memref.store %r, %dev[%tx] : memref<32xi32>
      }
      gpu.terminator
    }
    return
  }
}

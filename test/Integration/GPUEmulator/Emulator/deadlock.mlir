// A warp split between a barrier and a shuffle that names the whole warp can
// never continue (on a GPU it hangs or is undefined): the emulator reports
// the deadlock with the state of each warp and fails.
// RUN: moe-opt %s --moe-lower-to-gpu-emulator="bufferize=0" | not mlir-runner -e main --entry-point-result=void --shared-libs=%emulator_runner_libs 2>&1 | FileCheck %s
// CHECK: moe_gpu_emulator: error: kernel 'main_kernel::main_kernel', block (0, 0, 0): deadlock: no thread can continue
// CHECK-NEXT: warp 0: 16 at shfl.sync, 0 at redux.sync, 16 at bar.sync, 0 exited (lane 16 waits with mask 0xffffffff)
// CHECK-NEXT: warp 1: 0 at shfl.sync, 0 at redux.sync, 32 at bar.sync, 0 exited

module {
  func.func @main() {
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    %dev = gpu.alloc () : memref<64xi32>
    gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
               threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
      %lane = arith.index_cast %tx : index to i32
      %c16 = arith.constant 16 : i32
      %c32 = arith.constant 32 : i32
      %one = arith.constant 1 : i32
      %upper = arith.cmpi uge, %lane, %c16 : i32
      %warp0 = arith.cmpi ult, %lane, %c32 : i32
      %shuffles = arith.andi %upper, %warp0 : i1
      scf.if %shuffles {
        %r, %p = gpu.shuffle xor %lane, %one, %c32 : i32
        memref.store %r, %dev[%tx] : memref<64xi32>
      } else {
        gpu.barrier
      }
      gpu.terminator
    }
    return
  }
}

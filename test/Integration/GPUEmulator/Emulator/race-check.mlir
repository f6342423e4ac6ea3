// With race-check, the emulator records every workgroup-memory access and
// reports two threads that touch the same bytes between two barriers, one of
// them writing: here each thread reads its neighbour's slot right after
// writing its own, with no barrier in between. A race is reported whatever
// the schedule: in thread order, thread 1 overwrites the slot that thread 0
// has read; shuffled, some other pair. The same kernel with the barrier
// passes.
// RUN: moe-opt %s --moe-lower-to-gpu-emulator="bufferize=0 race-check=1" -o %t.mlir
// RUN: env MOE_GPU_EMULATOR_SEED=0 not mlir-runner %t.mlir -e main --entry-point-result=void --shared-libs=%emulator_runner_libs 2>&1 | FileCheck %s --check-prefix=INORDER
// RUN: env MOE_GPU_EMULATOR_SEED=7 not mlir-runner %t.mlir -e main --entry-point-result=void --shared-libs=%emulator_runner_libs 2>&1 | FileCheck %s --check-prefix=SHUFFLED

// The synchronized launch runs and prints; the racy one is reported.
// INORDER: [1,  2,  3,
// INORDER: moe_gpu_emulator: error: kernel 'neighbours_kernel::neighbours_kernel', block (0, 0, 0): thread (1, 0, 0) (lane 1) writes byte 4 of workgroup buffer 0, which thread (0, 0, 0) (lane 0) read since the last barrier: a data race
// SHUFFLED: [1,  2,  3,
// SHUFFLED: moe_gpu_emulator: error: kernel 'neighbours_kernel::neighbours_kernel', block (0, 0, 0): thread ({{[0-9]+}}, 0, 0) (lane {{[0-9]+}}) {{reads|writes}} byte {{[0-9]+}} of workgroup buffer 0, which thread ({{[0-9]+}}, 0, 0) (lane {{[0-9]+}}) {{wrote|read}} since the last barrier: a data race

module {
  func.func private @printMemrefI32(memref<*xi32>)

  func.func @neighbours(%synchronized: i1) {
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    %dev = gpu.alloc () : memref<64xi32>
    gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
               threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1)
               workgroup(%slots : memref<64xi32, #gpu.address_space<workgroup>>) {
      %id = arith.index_cast %tx : index to i32
      memref.store %id, %slots[%tx] : memref<64xi32, #gpu.address_space<workgroup>>
      scf.if %synchronized {
        gpu.barrier
      }
      %next = arith.addi %tx, %c1 : index
      %wrapped = arith.remui %next, %c64 : index
      %v = memref.load %slots[%wrapped] : memref<64xi32, #gpu.address_space<workgroup>>
      memref.store %v, %dev[%tx] : memref<64xi32>
      gpu.terminator
    }
    %host = memref.alloc() : memref<64xi32>
    gpu.memcpy %host, %dev : memref<64xi32>, memref<64xi32>
    %u = memref.cast %host : memref<64xi32> to memref<*xi32>
    call @printMemrefI32(%u) : (memref<*xi32>) -> ()
    return
  }

  func.func @main() {
    %true = arith.constant true
    %false = arith.constant false
    call @neighbours(%true) : (i1) -> ()
    call @neighbours(%false) : (i1) -> ()
    return
  }
}

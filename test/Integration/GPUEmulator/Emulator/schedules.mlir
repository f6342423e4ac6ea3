// Every thread writes its id to workgroup memory and reads its neighbour's.
// With a barrier between the two, any schedule gives t + 1 (mod 64). Without
// it the result depends on the order in which threads run: in thread order
// (seed 0) thread t reads slot t + 1 before thread t + 1 has written it and
// gets the poison that the emulator fills workgroup memory with (-1); only
// the last thread sees a written value. The emulator makes such races show.
// RUN: moe-opt %s --moe-lower-to-gpu-emulator="bufferize=0" | env MOE_GPU_EMULATOR_SEED=0 mlir-runner -e main --entry-point-result=void --shared-libs=%emulator_runner_libs | FileCheck %s --check-prefixes=CHECK,INORDER
// RUN: moe-opt %s --moe-lower-to-gpu-emulator="bufferize=0" | env MOE_GPU_EMULATOR_SEED=12345 mlir-runner -e main --entry-point-result=void --shared-libs=%emulator_runner_libs | FileCheck %s --check-prefixes=CHECK,SHUFFLED

module {
  func.func private @printMemrefI32(memref<*xi32>)

  func.func @neighbours(%synchronized: i1) {
    %c0 = arith.constant 0 : index
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
    // CHECK: [1,  2,  3,  4,  5,  6,  7,  8,  9,  10,  11,  12,  13,  14,  15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,  41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51,  52,  53,  54,  55,  56,  57,  58,  59,  60,  61,  62,  63,  0]
    call @neighbours(%true) : (i1) -> ()
    // INORDER: [-1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  -1,  0]
    // SHUFFLED: {{\[}}{{.*}}-1{{.*}}]
    call @neighbours(%false) : (i1) -> ()
    return
  }
}

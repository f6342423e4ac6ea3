// The route kernel reads rows of logits with one vector load per lane and
// chunk when the buffer's rows start on chunk boundaries (64 experts: 2
// elements, 4 bytes of bf16 or 8 of f32), and falls back to element loads
// when they do not (a buffer viewed at an odd offset). Both versions hold
// the same experts in the same lanes: the same logits give the same winners
// and weights bit for bit, here bf16 and f32 rows viewed at byte offsets 16
// (aligned) and 2 or 4 (not), through the grid-stride loop (the emulator
// reports 2 multiprocessors: 16 blocks of 4 tokens, 40 tokens).
// RUN: moe-opt %s --moe-lower-to-gpu-emulator="bufferize=0 host-copies=0 race-check=1" | env MOE_GPU_EMULATOR_SEED=3 mlir-runner -e main --entry-point-result=void --shared-libs=%emulator_runner_libs | FileCheck %s
// RUN: moe-opt %s --moe-lower-to-gpu-emulator="bufferize=0 host-copies=0 chip=sm_75" | mlir-runner -e main --entry-point-result=void --shared-libs=%emulator_runner_libs | FileCheck %s

// CHECK: bf16 aligned
// CHECK-NEXT: {{^}}[[BF16_SUM:[0-9.e+-]+]]{{$}}
// CHECK-NEXT: {{^}}[[BF16_IDX:[0-9]+]]{{$}}
// CHECK-NEXT: bf16 misaligned
// CHECK-NEXT: {{^}}[[BF16_SUM]]{{$}}
// CHECK-NEXT: {{^}}[[BF16_IDX]]{{$}}
// CHECK-NEXT: f32 aligned
// CHECK-NEXT: {{^}}[[F32_SUM:[0-9.e+-]+]]{{$}}
// CHECK-NEXT: {{^}}[[F32_IDX:[0-9]+]]{{$}}
// CHECK-NEXT: f32 misaligned
// CHECK-NEXT: {{^}}[[F32_SUM]]{{$}}
// CHECK-NEXT: {{^}}[[F32_IDX]]{{$}}

module {
  func.func private @printF32(f32)
  func.func private @printI64(i64)
  func.func private @printNewline()
  func.func private @printString(!llvm.ptr)

  llvm.mlir.global internal constant @bf16_aligned("bf16 aligned\0A\00")
  llvm.mlir.global internal constant @bf16_misaligned("bf16 misaligned\0A\00")
  llvm.mlir.global internal constant @f32_aligned("f32 aligned\0A\00")
  llvm.mlir.global internal constant @f32_misaligned("f32 misaligned\0A\00")

  // A logit of token t and expert e: distinct within a row.
  func.func @logit(%t: index, %e: index) -> f32 {
    %c37 = arith.constant 37 : index
    %c11 = arith.constant 11 : index
    %c64 = arith.constant 64 : index
    %a = arith.muli %t, %c37 : index
    %b = arith.muli %e, %c11 : index
    %s = arith.addi %a, %b : index
    %m = arith.remui %s, %c64 : index
    %i = arith.index_cast %m : index to i32
    %f = arith.sitofp %i : i32 to f32
    %scale = arith.constant 0.125 : f32
    %four = arith.constant 4.0 : f32
    %x = arith.mulf %f, %scale : f32
    %y = arith.subf %x, %four : f32
    return %y : f32
  }

  // Routes 40 tokens of 64 experts (4 groups keep 2, top-2, sigmoid, bias,
  // normalized) and prints the sum of the weights and of the indices.
  func.func @route_and_print(%x: memref<?x64xbf16>, %bias: memref<64xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %t = memref.dim %x, %c0 : memref<?x64xbf16>
    %w = memref.alloc(%t) : memref<?x2xf32>
    %i = memref.alloc(%t) : memref<?x2xi64>
    %counts = memref.alloc() : memref<64xi32>
    moe.buffer.route sigmoid ins(%x : memref<?x64xbf16>) bias(%bias : memref<64xf32>)
        outs(%w, %i, %counts : memref<?x2xf32>, memref<?x2xi64>, memref<64xi32>)
        {k = 2, num_groups = 4, topk_groups = 2, normalize}
    call @print_sums(%w, %i) : (memref<?x2xf32>, memref<?x2xi64>) -> ()
    memref.dealloc %w : memref<?x2xf32>
    memref.dealloc %i : memref<?x2xi64>
    memref.dealloc %counts : memref<64xi32>
    return
  }

  func.func @route_and_print_f32(%x: memref<?x64xf32>, %bias: memref<64xf32>) {
    %c0 = arith.constant 0 : index
    %t = memref.dim %x, %c0 : memref<?x64xf32>
    %w = memref.alloc(%t) : memref<?x2xf32>
    %i = memref.alloc(%t) : memref<?x2xi64>
    %counts = memref.alloc() : memref<64xi32>
    moe.buffer.route sigmoid ins(%x : memref<?x64xf32>) bias(%bias : memref<64xf32>)
        outs(%w, %i, %counts : memref<?x2xf32>, memref<?x2xi64>, memref<64xi32>)
        {k = 2, num_groups = 4, topk_groups = 2, normalize}
    call @print_sums(%w, %i) : (memref<?x2xf32>, memref<?x2xi64>) -> ()
    memref.dealloc %w : memref<?x2xf32>
    memref.dealloc %i : memref<?x2xi64>
    memref.dealloc %counts : memref<64xi32>
    return
  }

  // sum_t,j w[t, j] * (t + 1) * (j + 1) and sum_t,j i[t, j] * (t + 1) * (j + 1):
  // any change of a winner or a weight changes them.
  func.func @print_sums(%w: memref<?x2xf32>, %i: memref<?x2xi64>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %t = memref.dim %w, %c0 : memref<?x2xf32>
    %zf = arith.constant 0.0 : f32
    %zi = arith.constant 0 : i64
    %sums:2 = scf.for %r = %c0 to %t step %c1 iter_args(%sw = %zf, %si = %zi) -> (f32, i64) {
      %inner:2 = scf.for %j = %c0 to %c2 step %c1 iter_args(%aw = %sw, %ai = %si) -> (f32, i64) {
        %r1 = arith.addi %r, %c1 : index
        %j1 = arith.addi %j, %c1 : index
        %f = arith.muli %r1, %j1 : index
        %fi = arith.index_cast %f : index to i64
        %ff = arith.uitofp %fi : i64 to f32
        %wv = memref.load %w[%r, %j] : memref<?x2xf32>
        %iv = memref.load %i[%r, %j] : memref<?x2xi64>
        %pw = arith.mulf %wv, %ff : f32
        %pi = arith.muli %iv, %fi : i64
        %nw = arith.addf %aw, %pw : f32
        %ni = arith.addi %ai, %pi : i64
        scf.yield %nw, %ni : f32, i64
      }
      scf.yield %inner#0, %inner#1 : f32, i64
    }
    call @printF32(%sums#0) : (f32) -> ()
    call @printNewline() : () -> ()
    call @printI64(%sums#1) : (i64) -> ()
    call @printNewline() : () -> ()
    return
  }

  func.func @main() {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c4 = arith.constant 4 : index
    %c16 = arith.constant 16 : index
    %c40 = arith.constant 40 : index
    %c64 = arith.constant 64 : index
    %bias = memref.alloc() : memref<64xf32>
    scf.for %e = %c0 to %c64 step %c1 {
      %v = func.call @logit(%c16, %e) : (index, index) -> f32
      %tenth = arith.constant 0.03125 : f32
      %b = arith.mulf %v, %tenth : f32
      memref.store %b, %bias[%e] : memref<64xf32>
    }
    // 40 x 64 logits and 16 bytes to spare, viewed at a byte offset.
    %bytes = arith.constant 10256 : index
    %raw = memref.alloc(%bytes) {alignment = 64 : i64} : memref<?xi8>
    %xa = memref.view %raw[%c16][%c40] : memref<?xi8> to memref<?x64xbf16>
    %xm = memref.view %raw[%c2][%c40] : memref<?xi8> to memref<?x64xbf16>
    %fa = memref.view %raw[%c16][%c40] : memref<?xi8> to memref<?x64xf32>
    %fm = memref.view %raw[%c4][%c40] : memref<?xi8> to memref<?x64xf32>

    // bf16, aligned then misaligned (each view filled before its route).
    func.call @fill_bf16(%xa) : (memref<?x64xbf16>) -> ()
    %s0 = llvm.mlir.addressof @bf16_aligned : !llvm.ptr
    func.call @printString(%s0) : (!llvm.ptr) -> ()
    func.call @route_and_print(%xa, %bias) : (memref<?x64xbf16>, memref<64xf32>) -> ()
    func.call @fill_bf16(%xm) : (memref<?x64xbf16>) -> ()
    %s1 = llvm.mlir.addressof @bf16_misaligned : !llvm.ptr
    func.call @printString(%s1) : (!llvm.ptr) -> ()
    func.call @route_and_print(%xm, %bias) : (memref<?x64xbf16>, memref<64xf32>) -> ()

    func.call @fill_f32(%fa) : (memref<?x64xf32>) -> ()
    %s2 = llvm.mlir.addressof @f32_aligned : !llvm.ptr
    func.call @printString(%s2) : (!llvm.ptr) -> ()
    func.call @route_and_print_f32(%fa, %bias) : (memref<?x64xf32>, memref<64xf32>) -> ()
    func.call @fill_f32(%fm) : (memref<?x64xf32>) -> ()
    %s3 = llvm.mlir.addressof @f32_misaligned : !llvm.ptr
    func.call @printString(%s3) : (!llvm.ptr) -> ()
    func.call @route_and_print_f32(%fm, %bias) : (memref<?x64xf32>, memref<64xf32>) -> ()
    memref.dealloc %raw : memref<?xi8>
    memref.dealloc %bias : memref<64xf32>
    return
  }

  func.func @fill_bf16(%x: memref<?x64xbf16>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    %t = memref.dim %x, %c0 : memref<?x64xbf16>
    scf.for %r = %c0 to %t step %c1 {
      scf.for %e = %c0 to %c64 step %c1 {
        %v = func.call @logit(%r, %e) : (index, index) -> f32
        %h = arith.truncf %v : f32 to bf16
        memref.store %h, %x[%r, %e] : memref<?x64xbf16>
      }
    }
    return
  }

  func.func @fill_f32(%x: memref<?x64xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    %t = memref.dim %x, %c0 : memref<?x64xf32>
    scf.for %r = %c0 to %t step %c1 {
      scf.for %e = %c0 to %c64 step %c1 {
        %v = func.call @logit(%r, %e) : (index, index) -> f32
        memref.store %v, %x[%r, %e] : memref<?x64xf32>
      }
    }
    return
  }
}

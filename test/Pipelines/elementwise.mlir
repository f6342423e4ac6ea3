// Elementwise arith and math on tensors lower with the moe pipelines (they
// become linalg.generic ops before bufferization): tanh(x * h) on 12x32
// tensors, run on the CPU and on the GPU pipeline's host side (the emulator
// pipeline), each checked against NumPy.
//
// RUN: moe-opt %s --moe-lower-to-cpu \
// RUN: | mlir-runner -e main --entry-point-result=void --shared-libs=%runner_libs \
// RUN: | %python %S/Inputs/check_elementwise.py | FileCheck %s
// RUN: moe-opt %s --moe-lower-to-gpu-emulator \
// RUN: | mlir-runner -e main --entry-point-result=void --shared-libs=%emulator_runner_libs \
// RUN: | %python %S/Inputs/check_elementwise.py | FileCheck %s
// CHECK: max abs error
// CHECK-NEXT: min -0.{{[0-9]+}} max 0.{{[0-9]+}}
// CHECK-NEXT: MATCH
//
// The NVVM pipeline lowers the same host code.
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa" | FileCheck %s --check-prefix=NVVM
// NVVM: llvm.func @gate(
// NVVM-NOT: math.tanh
// NVVM-NOT: arith.mulf {{.*}} : tensor

func.func private @printMemrefF32(memref<*xf32>)

func.func @gate(%x: tensor<12x32xf32>, %h: tensor<12x32xf32>)
    -> tensor<12x32xf32> {
  %p = arith.mulf %x, %h : tensor<12x32xf32>
  %t = math.tanh %p : tensor<12x32xf32>
  return %t : tensor<12x32xf32>
}

func.func @main() {
  %c32 = arith.constant 32.0 : f32
  %c100 = arith.constant 100.0 : f32
  %c19 = arith.constant 1.9 : f32
  %half = arith.constant 0.5 : f32
  %c32i = arith.constant 32 : index
  // x[i, j] = (32 i + j) / 100 - 1.9
  %x = tensor.generate {
  ^bb0(%i: index, %j: index):
    %r = arith.muli %i, %c32i : index
    %n = arith.addi %r, %j : index
    %ni = arith.index_cast %n : index to i32
    %nf = arith.sitofp %ni : i32 to f32
    %q = arith.divf %nf, %c100 : f32
    %v = arith.subf %q, %c19 : f32
    tensor.yield %v : f32
  } : tensor<12x32xf32>
  // h[i, j] = 0.5 + (i - j) / 32
  %h = tensor.generate {
  ^bb0(%i: index, %j: index):
    %d = arith.subi %i, %j : index
    %di = arith.index_cast %d : index to i32
    %df = arith.sitofp %di : i32 to f32
    %q = arith.divf %df, %c32 : f32
    %v = arith.addf %half, %q : f32
    tensor.yield %v : f32
  } : tensor<12x32xf32>
  %t = call @gate(%x, %h) : (tensor<12x32xf32>, tensor<12x32xf32>) -> tensor<12x32xf32>
  %tm = bufferization.to_buffer %t : tensor<12x32xf32> to memref<12x32xf32>
  %tu = memref.cast %tm : memref<12x32xf32> to memref<*xf32>
  call @printMemrefF32(%tu) : (memref<*xf32>) -> ()
  return
}

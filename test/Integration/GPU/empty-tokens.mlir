// On the GPU (launches of zero blocks are skipped): an empty batch (dynamic
// T = 0): nothing is read or written out of bounds,
// every count is 0, the sign update leaves the bias as it is (mean - c = 0),
// MaxVio is 0, dispatch has all-zero offsets and only padding rows (-1).
// REQUIRES: cuda
// RUN: moe-opt %s --moe-lower-to-nvvm | mlir-runner -e main --entry-point-result=void --shared-libs=%cuda_runner_libs | FileCheck %s

module {
  func.func private @printMemrefF32(memref<*xf32>)
  func.func private @printMemrefI32(memref<*xi32>)

  func.func @step(%x: tensor<?x8xf32>, %b: tensor<8xf32>)
      -> (tensor<8xi32>, tensor<8xf32>, f32, tensor<9xi32>, tensor<?xi32>) {
    %w, %i, %c = moe.route sigmoid %x bias(%b) {k = 2, num_groups = 4, topk_groups = 2, normalize}
        : tensor<?x8xf32>, tensor<8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>, tensor<8xi32>
    %nb = moe.update_bias sign %b, %c {rate = 1.0e-03 : f32} : tensor<8xf32>, tensor<8xi32>
    %v = moe.imbalance %c : tensor<8xi32> -> f32
    %o, %t, %s = moe.dispatch %i {num_experts = 8, block = 2}
        : tensor<?x2xi32> -> tensor<9xi32>, tensor<?xi32>, tensor<?x2xi32>
    return %c, %nb, %v, %o, %t : tensor<8xi32>, tensor<8xf32>, f32, tensor<9xi32>, tensor<?xi32>
  }

  func.func @main() {
    %x0 = tensor.empty() : tensor<0x8xf32>
    %x = tensor.cast %x0 : tensor<0x8xf32> to tensor<?x8xf32>
    %b = arith.constant dense<[0.5, -0.5, 0.25, 0.0, 1.0, -1.0, 0.125, 2.0]> : tensor<8xf32>
    %c, %nb, %v, %o, %t = call @step(%x, %b)
        : (tensor<?x8xf32>, tensor<8xf32>) -> (tensor<8xi32>, tensor<8xf32>, f32, tensor<9xi32>, tensor<?xi32>)
    // CHECK: sizes = [8]
    // CHECK-NEXT: [0,  0,  0,  0,  0,  0,  0,  0]
    %cm = bufferization.to_buffer %c : tensor<8xi32> to memref<8xi32>
    %cu = memref.cast %cm : memref<8xi32> to memref<*xi32>
    call @printMemrefI32(%cu) : (memref<*xi32>) -> ()
    // CHECK: sizes = [8]
    // CHECK-NEXT: [0.5,  -0.5,  0.25,  0,  1,  -1,  0.125,  2]
    %nbm = bufferization.to_buffer %nb : tensor<8xf32> to memref<8xf32>
    %nbu = memref.cast %nbm : memref<8xf32> to memref<*xf32>
    call @printMemrefF32(%nbu) : (memref<*xf32>) -> ()
    // CHECK: 0
    vector.print %v : f32
    // CHECK: sizes = [9]
    // CHECK-NEXT: [0,  0,  0,  0,  0,  0,  0,  0,  0]
    %om = bufferization.to_buffer %o : tensor<9xi32> to memref<9xi32>
    %ou = memref.cast %om : memref<9xi32> to memref<*xi32>
    call @printMemrefI32(%ou) : (memref<*xi32>) -> ()
    // P = T * K + E * (block - 1) = 8 rows, all padding.
    // CHECK: sizes = [8]
    // CHECK-NEXT: [-1,  -1,  -1,  -1,  -1,  -1,  -1,  -1]
    %tm = bufferization.to_buffer %t : tensor<?xi32> to memref<?xi32>
    %tu = memref.cast %tm : memref<?xi32> to memref<*xi32>
    call @printMemrefI32(%tu) : (memref<*xi32>) -> ()
    return
  }
}

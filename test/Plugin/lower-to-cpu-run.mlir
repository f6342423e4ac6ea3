// The moe-lower-to-cpu pipeline from the stock mlir-opt with libMoEPlugin.so,
// run with mlir-runner. The inputs are chosen so that every result is exact and can be
// checked by hand.
//
// RUN: mlir-opt %s --load-dialect-plugin=%moe_plugin \
// RUN:   --load-pass-plugin=%moe_plugin \
// RUN:   --pass-pipeline="builtin.module(moe-lower-to-cpu)" \
// RUN: | mlir-runner -e main --entry-point-result=void \
// RUN:   --shared-libs=%runner_libs \
// RUN: | FileCheck %s

module {
  func.func private @printMemrefF32(memref<*xf32>)
  func.func private @printMemrefI32(memref<*xi32>)

  // topk -> normalize -> load (no score: stays unfused).
  func.func @route_scores(%s: tensor<?x4xf32>, %b: tensor<4xf32>)
      -> (tensor<?x2xf32>, tensor<?x2xi32>, tensor<4xi32>) {
    %w, %i = moe.topk %s bias(%b) {k = 2}
        : tensor<?x4xf32>, tensor<4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    %wn = moe.normalize %w {scale = 3.0 : f32} : tensor<?x2xf32>
    %c = moe.load %i {num_experts = 4} : tensor<?x2xi32> -> tensor<4xi32>
    return %wn, %i, %c : tensor<?x2xf32>, tensor<?x2xi32>, tensor<4xi32>
  }

  // score -> topk -> normalize -> load (fused into moe.route by the
  // pipeline).
  func.func @route_logits(%x: tensor<?x4xf32>, %b: tensor<4xf32>)
      -> (tensor<?x2xf32>, tensor<?x2xi32>, tensor<4xi32>) {
    %s = moe.score sigmoid %x : tensor<?x4xf32> -> tensor<?x4xf32>
    %w, %i = moe.topk %s bias(%b) {k = 2}
        : tensor<?x4xf32>, tensor<4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    %wn = moe.normalize %w : tensor<?x2xf32>
    %c = moe.load %i {num_experts = 4} : tensor<?x2xi32> -> tensor<4xi32>
    return %wn, %i, %c : tensor<?x2xf32>, tensor<?x2xi32>, tensor<4xi32>
  }

  func.func @print(%w: tensor<?x2xf32>, %i: tensor<?x2xi32>, %c: tensor<4xi32>) {
    %wm = bufferization.to_buffer %w : tensor<?x2xf32> to memref<?x2xf32>
    %wu = memref.cast %wm : memref<?x2xf32> to memref<*xf32>
    call @printMemrefF32(%wu) : (memref<*xf32>) -> ()
    %im = bufferization.to_buffer %i : tensor<?x2xi32> to memref<?x2xi32>
    %iu = memref.cast %im : memref<?x2xi32> to memref<*xi32>
    call @printMemrefI32(%iu) : (memref<*xi32>) -> ()
    %cm = bufferization.to_buffer %c : tensor<4xi32> to memref<4xi32>
    %cu = memref.cast %cm : memref<4xi32> to memref<*xi32>
    call @printMemrefI32(%cu) : (memref<*xi32>) -> ()
    return
  }

  func.func @main() {
    // Keys = scores + bias; the bias of expert 2 moves it to the top of
    // every row, but the weights are the unbiased scores.
    //   row 0: keys [0.125, 0.5, 0.75, 0.0625]  -> experts 2, 1
    //          weights [0.25, 0.5], sum 0.75    -> x 3 / 0.75 = [1, 2]
    //   row 1: keys [0.5, 0.125, 0.625, 0.375]  -> experts 2, 0
    //          weights [0.125, 0.5], sum 0.625  -> [0.6, 2.4]
    //   row 2: keys [0.25, 0.25, 0.5, 0.25]     -> expert 2, then the tie
    //          0 / 1 / 3 goes to the lowest index, 0
    //          weights [0, 0.25], sum 0.25      -> [0, 3]
    //   counts: expert 0 twice, 1 once, 2 three times, 3 never.
    %s = arith.constant dense<[[0.125, 0.5,   0.25,  0.0625],
                               [0.5,   0.125, 0.125, 0.375],
                               [0.25,  0.25,  0.0,   0.25]]> : tensor<3x4xf32>
    %b = arith.constant dense<[0.0, 0.0, 0.5, 0.0]> : tensor<4xf32>
    %sd = tensor.cast %s : tensor<3x4xf32> to tensor<?x4xf32>
    %w, %i, %c = call @route_scores(%sd, %b)
        : (tensor<?x4xf32>, tensor<4xf32>)
        -> (tensor<?x2xf32>, tensor<?x2xi32>, tensor<4xi32>)
    // CHECK: sizes = [3, 2] strides = [2, 1] data =
    // CHECK-NEXT: {{^\[\[}}1,   2],
    // CHECK-NEXT: {{^}} [0.6,   2.4],
    // CHECK-NEXT: {{^}} [0,   3]]
    // CHECK-NEXT: sizes = [3, 2] strides = [2, 1] data =
    // CHECK-NEXT: {{^\[\[}}2,   1],
    // CHECK-NEXT: {{^}} [2,   0],
    // CHECK-NEXT: {{^}} [2,   0]]
    // CHECK-NEXT: sizes = [4] strides = [1] data =
    // CHECK-NEXT: {{^}}[2,  1,  3,  0]
    call @print(%w, %i, %c) : (tensor<?x2xf32>, tensor<?x2xi32>, tensor<4xi32>) -> ()

    // Logits 0 score sigmoid(0) = 0.5 exactly; the bias alone decides:
    // keys [0.5, 0.75, 0.5, 1.0] -> experts 3, 1 with weights 0.5, 0.5,
    // normalised to 0.5, 0.5, for both tokens.
    %x = arith.constant dense<0.0> : tensor<2x4xf32>
    %b2 = arith.constant dense<[0.0, 0.25, 0.0, 0.5]> : tensor<4xf32>
    %xd = tensor.cast %x : tensor<2x4xf32> to tensor<?x4xf32>
    %w2, %i2, %c2 = call @route_logits(%xd, %b2)
        : (tensor<?x4xf32>, tensor<4xf32>)
        -> (tensor<?x2xf32>, tensor<?x2xi32>, tensor<4xi32>)
    // CHECK-NEXT: sizes = [2, 2] strides = [2, 1] data =
    // CHECK-NEXT: {{^\[\[}}0.5,   0.5],
    // CHECK-NEXT: {{^}} [0.5,   0.5]]
    // CHECK-NEXT: sizes = [2, 2] strides = [2, 1] data =
    // CHECK-NEXT: {{^\[\[}}3,   1],
    // CHECK-NEXT: {{^}} [3,   1]]
    // CHECK-NEXT: sizes = [4] strides = [1] data =
    // CHECK-NEXT: {{^}}[0,  2,  0,  2]
    // CHECK-NOT: Unranked
    call @print(%w2, %i2, %c2) : (tensor<?x2xf32>, tensor<?x2xi32>, tensor<4xi32>) -> ()
    return
  }
}

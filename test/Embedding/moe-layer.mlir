// The worked example of docs/embedding.md: a whole MoE layer at the tensor
// level as an embedding compiler would emit it, with the moe ops between the
// router matmul and the expert GEMMs, lowered by the stock mlir-opt with
// libMoEPlugin.so (pipeline moe-lower-to-cpu) and run with mlir-runner.
// The numbers are small enough to check by hand (see @main).
//
// RUN: mlir-opt %s --load-dialect-plugin=%moe_plugin \
// RUN:   --load-pass-plugin=%moe_plugin \
// RUN:   --pass-pipeline="builtin.module(moe-lower-to-cpu)" \
// RUN: | mlir-runner -e main --entry-point-result=void \
// RUN:   --shared-libs=%runner_libs \
// RUN: | FileCheck %s
//
// The fusion pass turns the routing chain into one moe.route and leaves the
// rest of the layer alone.
// RUN: mlir-opt %s --load-dialect-plugin=%moe_plugin \
// RUN:   --load-pass-plugin=%moe_plugin \
// RUN:   --pass-pipeline="builtin.module(func.func(moe-fuse-routing))" \
// RUN: | FileCheck %s --check-prefix=FUSED
// FUSED-LABEL: func.func @moe_layer
// FUSED: linalg.matmul
// FUSED-NEXT: %{{.*}}, %{{.*}}, %{{.*}} = moe.route sigmoid %{{.*}} bias(%{{.*}}) {k = 2 : i64, normalize}
// FUSED-NOT: moe.score
// FUSED-NOT: moe.topk
// FUSED: moe.dispatch
// FUSED: moe.permute
// FUSED: scf.for
// FUSED: moe.combine
// FUSED: moe.update_bias sign
// FUSED: moe.imbalance

module {
  func.func private @printMemrefF32(memref<*xf32>)
  func.func private @printMemrefI32(memref<*xi32>)

  // One MoE layer over T tokens of width D = 4 with E = 4 experts, top-2.
  //   %x: [T, D] tokens, %wr: [D, E] router, %we: [E, D, D] expert weights,
  //   %bias: [E] the balancing bias.
  // Returns the layer output [T, D], the chosen experts [T, 2], the next
  // bias and the MaxVio of this batch.
  func.func @moe_layer(%x: tensor<?x4xf32>, %wr: tensor<4x4xf32>,
                       %we: tensor<4x4x4xf32>, %bias: tensor<4xf32>)
      -> (tensor<?x4xf32>, tensor<?x2xi32>, tensor<4xf32>, f32) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    %zero = arith.constant 0.0 : f32
    %t = tensor.dim %x, %c0 : tensor<?x4xf32>

    // 1. Router matmul (the embedding compiler's own op).
    %l0 = tensor.empty(%t) : tensor<?x4xf32>
    %l1 = linalg.fill ins(%zero : f32) outs(%l0 : tensor<?x4xf32>) -> tensor<?x4xf32>
    %logits = linalg.matmul ins(%x, %wr : tensor<?x4xf32>, tensor<4x4xf32>)
                            outs(%l1 : tensor<?x4xf32>) -> tensor<?x4xf32>

    // 2. Routing: scores, biased top-2, normalised gate weights, counts.
    %s = moe.score sigmoid %logits : tensor<?x4xf32> -> tensor<?x4xf32>
    %w, %i = moe.topk %s bias(%bias) {k = 2}
        : tensor<?x4xf32>, tensor<4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    %wn = moe.normalize %w : tensor<?x2xf32>
    %counts = moe.load %i {num_experts = 4} : tensor<?x2xi32> -> tensor<4xi32>

    // 3. Group the (token, expert) pairs by expert and gather their rows.
    %offsets, %token_ids, %slots = moe.dispatch %i {num_experts = 4}
        : tensor<?x2xi32> -> tensor<5xi32>, tensor<?xi32>, tensor<?x2xi32>
    %xg = moe.permute %x, %token_ids
        : tensor<?x4xf32>, tensor<?xi32> -> tensor<?x4xf32>

    // 4. Expert GEMMs: rows [offsets[e], offsets[e+1]) of %xg times %we[e]
    //    (a grouped GEMM; written here as a loop over experts).
    %p = tensor.dim %xg, %c0 : tensor<?x4xf32>
    %y0 = tensor.empty(%p) : tensor<?x4xf32>
    %y1 = linalg.fill ins(%zero : f32) outs(%y0 : tensor<?x4xf32>) -> tensor<?x4xf32>
    %yg = scf.for %e = %c0 to %c4 step %c1 iter_args(%acc = %y1) -> (tensor<?x4xf32>) {
      %e1 = arith.addi %e, %c1 : index
      %lo32 = tensor.extract %offsets[%e] : tensor<5xi32>
      %hi32 = tensor.extract %offsets[%e1] : tensor<5xi32>
      %lo = arith.index_cast %lo32 : i32 to index
      %hi = arith.index_cast %hi32 : i32 to index
      %n = arith.subi %hi, %lo : index
      %xs = tensor.extract_slice %xg[%lo, 0] [%n, 4] [1, 1]
          : tensor<?x4xf32> to tensor<?x4xf32>
      %wslice = tensor.extract_slice %we[%e, 0, 0] [1, 4, 4] [1, 1, 1]
          : tensor<4x4x4xf32> to tensor<4x4xf32>
      %o0 = tensor.empty(%n) : tensor<?x4xf32>
      %o1 = linalg.fill ins(%zero : f32) outs(%o0 : tensor<?x4xf32>) -> tensor<?x4xf32>
      %ys = linalg.matmul ins(%xs, %wslice : tensor<?x4xf32>, tensor<4x4xf32>)
                          outs(%o1 : tensor<?x4xf32>) -> tensor<?x4xf32>
      %next = tensor.insert_slice %ys into %acc[%lo, 0] [%n, 4] [1, 1]
          : tensor<?x4xf32> into tensor<?x4xf32>
      scf.yield %next : tensor<?x4xf32>
    }

    // 5. Weighted sum of each token's expert rows.
    %y = moe.combine %yg, %wn, %slots
        : tensor<?x4xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<?x4xf32>

    // 6. Training step: the auxiliary-loss-free bias update and MaxVio.
    %next_bias = moe.update_bias sign %bias, %counts {rate = 1.0e-03 : f32}
        : tensor<4xf32>, tensor<4xi32>
    %maxvio = moe.imbalance %counts : tensor<4xi32> -> f32
    return %y, %i, %next_bias, %maxvio
        : tensor<?x4xf32>, tensor<?x2xi32>, tensor<4xf32>, f32
  }

  func.func @main() {
    // Token t is the unit vector e_t, so its logits are row t of %wr:
    // 20 (sigmoid = 1.0 in f32) or 0 (sigmoid = 0.5). Expert e multiplies by
    // (e + 1), so expert e maps token t to (e + 1) e_t. The bias favours
    // expert 3 by 0.25.
    //   t0: keys [1, .5, .5, .75]  -> experts 0, 3; weights 1, .5 -> 2/3, 1/3
    //       y = 2/3 * 1 + 1/3 * 4 = 2
    //   t1: keys [.5, 1, 1, .75]   -> experts 1, 2 (tie: lower index first)
    //       weights .5, .5; y = .5 * 2 + .5 * 3 = 2.5
    //   t2: keys [.5, .5, .5, .75] -> experts 3, 0; y = .5 * 4 + .5 * 1 = 2.5
    //   t3: keys [.5, .5, 1, 1.25] -> experts 3, 2; y = .5 * 4 + .5 * 3 = 3.5
    //   counts [2, 1, 2, 3], mean 2: bias += 1e-3 * sign(2 - count)
    //   MaxVio = (3 - 2) / 2 = 0.5
    %x = arith.constant dense<[[1.0, 0.0, 0.0, 0.0],
                               [0.0, 1.0, 0.0, 0.0],
                               [0.0, 0.0, 1.0, 0.0],
                               [0.0, 0.0, 0.0, 1.0]]> : tensor<4x4xf32>
    %wr = arith.constant dense<[[20.0, 0.0,  0.0,  0.0],
                                [0.0,  20.0, 20.0, 0.0],
                                [0.0,  0.0,  0.0,  0.0],
                                [0.0,  0.0,  20.0, 20.0]]> : tensor<4x4xf32>
    %we = arith.constant dense<[
        [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0],
         [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]],
        [[2.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0],
         [0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 2.0]],
        [[3.0, 0.0, 0.0, 0.0], [0.0, 3.0, 0.0, 0.0],
         [0.0, 0.0, 3.0, 0.0], [0.0, 0.0, 0.0, 3.0]],
        [[4.0, 0.0, 0.0, 0.0], [0.0, 4.0, 0.0, 0.0],
         [0.0, 0.0, 4.0, 0.0], [0.0, 0.0, 0.0, 4.0]]]> : tensor<4x4x4xf32>
    %bias = arith.constant dense<[0.0, 0.0, 0.0, 0.25]> : tensor<4xf32>
    %xd = tensor.cast %x : tensor<4x4xf32> to tensor<?x4xf32>
    %y, %i, %nb, %v = call @moe_layer(%xd, %wr, %we, %bias)
        : (tensor<?x4xf32>, tensor<4x4xf32>, tensor<4x4x4xf32>, tensor<4xf32>)
        -> (tensor<?x4xf32>, tensor<?x2xi32>, tensor<4xf32>, f32)

    // CHECK: sizes = [4, 4] strides = [4, 1] data =
    // CHECK-NEXT: {{^\[\[}}2,   0,   0,   0],
    // CHECK-NEXT: {{^}} [0,   2.5,   0,   0],
    // CHECK-NEXT: {{^}} [0,   0,   2.5,   0],
    // CHECK-NEXT: {{^}} [0,   0,   0,   3.5]]
    %ym = bufferization.to_buffer %y : tensor<?x4xf32> to memref<?x4xf32>
    %yu = memref.cast %ym : memref<?x4xf32> to memref<*xf32>
    call @printMemrefF32(%yu) : (memref<*xf32>) -> ()

    // CHECK-NEXT: sizes = [4, 2] strides = [2, 1] data =
    // CHECK-NEXT: {{^\[\[}}0,   3],
    // CHECK-NEXT: {{^}} [1,   2],
    // CHECK-NEXT: {{^}} [3,   0],
    // CHECK-NEXT: {{^}} [3,   2]]
    %im = bufferization.to_buffer %i : tensor<?x2xi32> to memref<?x2xi32>
    %iu = memref.cast %im : memref<?x2xi32> to memref<*xi32>
    call @printMemrefI32(%iu) : (memref<*xi32>) -> ()

    // CHECK-NEXT: sizes = [4] strides = [1] data =
    // CHECK-NEXT: {{^}}[0,  0.001,  0,  0.249]
    %bm = bufferization.to_buffer %nb : tensor<4xf32> to memref<4xf32>
    %bu = memref.cast %bm : memref<4xf32> to memref<*xf32>
    call @printMemrefF32(%bu) : (memref<*xf32>) -> ()

    // CHECK-NEXT: {{^}}0.5{{$}}
    vector.print %v : f32
    return
  }
}

// RUN: moe-opt %s | moe-opt | FileCheck %s
// RUN: moe-opt %s --mlir-print-op-generic | moe-opt | FileCheck %s

// Every example of the contract (../shared/spec/moe-dialect.md), in the custom
// form and through the generic form.

// CHECK-LABEL: func.func @contract_examples
func.func @contract_examples(%logits: tensor<?x256xbf16>, %b: tensor<256xf32>,
    %s64: tensor<?x64xf32>, %valid: tensor<?xi1>, %b4: tensor<4x256xf32>,
    %c4: tensor<4x256xf32>, %i2: tensor<512x2xi32>, %x: tensor<?x1024xbf16>) {
  // CHECK: %[[S:.*]] = moe.score sigmoid %{{.*}} : tensor<?x256xbf16> -> tensor<?x256xf32>
  %s = moe.score sigmoid %logits : tensor<?x256xbf16> -> tensor<?x256xf32>
  // CHECK: %[[W:.*]], %[[I:.*]] = moe.topk %[[S]] bias(%{{.*}}) {k = 8 : i64, num_groups = 8 : i64, topk_groups = 4 : i64} : tensor<?x256xf32>, tensor<256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  %w, %i = moe.topk %s bias(%b) {k = 8, num_groups = 8, topk_groups = 4}
      : tensor<?x256xf32>, tensor<256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  // CHECK: moe.topk %{{.*}} {k = 2 : i64} : tensor<?x64xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %w1, %i1 = moe.topk %s64 {k = 2} : tensor<?x64xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  // CHECK: %[[WN:.*]] = moe.normalize %[[W]] {scale = 2.500000e+00 : f32} : tensor<?x8xf32>
  %wn = moe.normalize %w {scale = 2.5 : f32} : tensor<?x8xf32>
  // CHECK: %[[C:.*]] = moe.load %[[I]] {num_experts = 256 : i64} : tensor<?x8xi32> -> tensor<256xi32>
  %c = moe.load %i {num_experts = 256} : tensor<?x8xi32> -> tensor<256xi32>
  // CHECK: moe.load %[[I]] mask(%{{.*}}) {num_experts = 256 : i64} : tensor<?x8xi32>, tensor<?xi1> -> tensor<256xi32>
  %c2 = moe.load %i mask(%valid) {num_experts = 256}
      : tensor<?x8xi32>, tensor<?xi1> -> tensor<256xi32>
  // CHECK: moe.update_bias sign %{{.*}}, %[[C]] {rate = 1.000000e-03 : f32} : tensor<256xf32>, tensor<256xi32>
  %b2 = moe.update_bias sign %b, %c {rate = 1.0e-03 : f32}
      : tensor<256xf32>, tensor<256xi32>
  // CHECK: moe.update_bias linear %{{.*}}, %{{.*}} {center, rate = 1.000000e-03 : f32} : tensor<4x256xf32>, tensor<4x256xf32>
  %b3 = moe.update_bias linear %b4, %c4 {rate = 1.0e-03 : f32, center}
      : tensor<4x256xf32>, tensor<4x256xf32>
  // CHECK: moe.imbalance %[[C]] : tensor<256xi32> -> f32
  %v = moe.imbalance %c : tensor<256xi32> -> f32
  // CHECK: moe.route sigmoid %{{.*}} bias(%{{.*}}) {k = 8 : i64, normalize, num_groups = 8 : i64, scale = 2.500000e+00 : f32, topk_groups = 4 : i64} : tensor<?x256xbf16>, tensor<256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>, tensor<256xi32>
  %rw, %ri, %rc = moe.route sigmoid %logits bias(%b)
      {k = 8, num_groups = 8, topk_groups = 4, normalize, scale = 2.5 : f32}
      : tensor<?x256xbf16>, tensor<256xf32>
      -> tensor<?x8xf32>, tensor<?x8xi32>, tensor<256xi32>
  // CHECK: %{{.*}}, %[[T:.*]], %[[SL:.*]] = moe.dispatch %[[I]] {block = 64 : i64, num_experts = 256 : i64} : tensor<?x8xi32> -> tensor<257xi32>, tensor<?xi32>, tensor<?x8xi32>
  %offsets, %token_ids, %slots = moe.dispatch %i {num_experts = 256, block = 64}
      : tensor<?x8xi32> -> tensor<257xi32>, tensor<?xi32>, tensor<?x8xi32>
  // CHECK: moe.dispatch %{{.*}} {capacity = 128 : i64, num_experts = 64 : i64} : tensor<512x2xi32> -> tensor<65xi32>, tensor<8192xi32>, tensor<512x2xi32>
  %o2, %t2, %s2 = moe.dispatch %i2 {num_experts = 64, capacity = 128}
      : tensor<512x2xi32> -> tensor<65xi32>, tensor<8192xi32>, tensor<512x2xi32>
  // CHECK: %[[XG:.*]] = moe.permute %{{.*}}, %[[T]] : tensor<?x1024xbf16>, tensor<?xi32> -> tensor<?x1024xbf16>
  %xg = moe.permute %x, %token_ids : tensor<?x1024xbf16>, tensor<?xi32> -> tensor<?x1024xbf16>
  // CHECK: moe.combine %[[XG]], %[[WN]], %[[SL]] : tensor<?x1024xbf16>, tensor<?x8xf32>, tensor<?x8xi32> -> tensor<?x1024xbf16>
  %y = moe.combine %xg, %wn, %slots
      : tensor<?x1024xbf16>, tensor<?x8xf32>, tensor<?x8xi32> -> tensor<?x1024xbf16>
  return
}

// CHECK-LABEL: func.func @score_functions_and_types
func.func @score_functions_and_types(%a: tensor<7x96xf16>, %b: tensor<?x160xf32>) {
  // CHECK: moe.score softmax %{{.*}} : tensor<7x96xf16> -> tensor<7x96xf32>
  %0 = moe.score softmax %a : tensor<7x96xf16> -> tensor<7x96xf32>
  // CHECK: moe.score sqrtsoftplus %{{.*}} : tensor<?x160xf32> -> tensor<?x160xf32>
  %1 = moe.score sqrtsoftplus %b : tensor<?x160xf32> -> tensor<?x160xf32>
  // CHECK: moe.topk %{{.*}} {group_top = 3 : i64, k = 6 : i64, num_groups = 5 : i64, topk_groups = 2 : i64} : tensor<?x160xf32> -> tensor<?x6xf32>, tensor<?x6xi64>
  %w, %i = moe.topk %1 {k = 6, num_groups = 5, topk_groups = 2, group_top = 3}
      : tensor<?x160xf32> -> tensor<?x6xf32>, tensor<?x6xi64>
  // CHECK: moe.load %{{.*}} {num_experts = 160 : i64} : tensor<?x6xi64> -> tensor<160xi64>
  %c = moe.load %i {num_experts = 160} : tensor<?x6xi64> -> tensor<160xi64>
  // CHECK: moe.imbalance %{{.*}} : tensor<160xi64> -> f32
  %v = moe.imbalance %c : tensor<160xi64> -> f32
  return
}

// CHECK-LABEL: func.func @buffer_forms
func.func @buffer_forms(%x: memref<?x256xbf16>, %s: memref<?x256xf32>,
    %b: memref<256xf32>, %w: memref<?x8xf32>, %i: memref<?x8xi32>,
    %c: memref<256xi32>, %m: memref<?xi1>, %o: memref<257xi32>,
    %t: memref<?xi32>, %rows: memref<?x1024xbf16>, %y: memref<?x1024xbf16>) -> f32 {
  // CHECK: moe.buffer.score sigmoid ins(%{{.*}} : memref<?x256xbf16>) outs(%{{.*}} : memref<?x256xf32>)
  moe.buffer.score sigmoid ins(%x : memref<?x256xbf16>) outs(%s : memref<?x256xf32>)
  // CHECK: moe.buffer.topk ins(%{{.*}} : memref<?x256xf32>) bias(%{{.*}} : memref<256xf32>) outs(%{{.*}}, %{{.*}} : memref<?x8xf32>, memref<?x8xi32>) {k = 8 : i64, num_groups = 8 : i64, topk_groups = 4 : i64}
  moe.buffer.topk ins(%s : memref<?x256xf32>) bias(%b : memref<256xf32>)
      outs(%w, %i : memref<?x8xf32>, memref<?x8xi32>) {k = 8, num_groups = 8, topk_groups = 4}
  // CHECK: moe.buffer.normalize ins(%{{.*}} : memref<?x8xf32>) outs(%{{.*}} : memref<?x8xf32>) {scale = 2.500000e+00 : f32}
  moe.buffer.normalize ins(%w : memref<?x8xf32>) outs(%w : memref<?x8xf32>) {scale = 2.5 : f32}
  // CHECK: moe.buffer.load ins(%{{.*}} : memref<?x8xi32>) mask(%{{.*}} : memref<?xi1>) outs(%{{.*}} : memref<256xi32>) {num_experts = 256 : i64}
  moe.buffer.load ins(%i : memref<?x8xi32>) mask(%m : memref<?xi1>) outs(%c : memref<256xi32>) {num_experts = 256}
  // CHECK: moe.buffer.update_bias sign ins(%{{.*}}, %{{.*}} : memref<256xf32>, memref<256xi32>) outs(%{{.*}} : memref<256xf32>) {rate = 1.000000e-03 : f32}
  moe.buffer.update_bias sign ins(%b, %c : memref<256xf32>, memref<256xi32>) outs(%b : memref<256xf32>) {rate = 1.0e-03 : f32}
  // CHECK: moe.buffer.imbalance ins(%{{.*}} : memref<256xi32>) -> f32
  %v = moe.buffer.imbalance ins(%c : memref<256xi32>) -> f32
  // CHECK: moe.buffer.route sigmoid ins(%{{.*}} : memref<?x256xbf16>) bias(%{{.*}} : memref<256xf32>) outs(%{{.*}}, %{{.*}}, %{{.*}} : memref<?x8xf32>, memref<?x8xi32>, memref<256xi32>) {k = 8 : i64, normalize, num_groups = 8 : i64, scale = 2.500000e+00 : f32, topk_groups = 4 : i64}
  moe.buffer.route sigmoid ins(%x : memref<?x256xbf16>) bias(%b : memref<256xf32>)
      outs(%w, %i, %c : memref<?x8xf32>, memref<?x8xi32>, memref<256xi32>)
      {k = 8, num_groups = 8, topk_groups = 4, normalize, scale = 2.5 : f32}
  // CHECK: moe.buffer.dispatch ins(%{{.*}} : memref<?x8xi32>) outs(%{{.*}}, %{{.*}}, %{{.*}} : memref<257xi32>, memref<?xi32>, memref<?x8xi32>) {block = 64 : i64, num_experts = 256 : i64}
  moe.buffer.dispatch ins(%i : memref<?x8xi32>) outs(%o, %t, %i : memref<257xi32>, memref<?xi32>, memref<?x8xi32>) {num_experts = 256, block = 64}
  // CHECK: moe.buffer.permute ins(%{{.*}}, %{{.*}} : memref<?x1024xbf16>, memref<?xi32>) outs(%{{.*}} : memref<?x1024xbf16>)
  moe.buffer.permute ins(%rows, %t : memref<?x1024xbf16>, memref<?xi32>) outs(%y : memref<?x1024xbf16>)
  // CHECK: moe.buffer.combine ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<?x1024xbf16>, memref<?x8xf32>, memref<?x8xi32>) outs(%{{.*}} : memref<?x1024xbf16>)
  moe.buffer.combine ins(%y, %w, %i : memref<?x1024xbf16>, memref<?x8xf32>, memref<?x8xi32>) outs(%rows : memref<?x1024xbf16>)
  return %v : f32
}

// The training ops of contract v2 (every example), the fused backward and
// their buffer forms.
// CHECK-LABEL: func.func @training_contract_examples
func.func @training_contract_examples(%logits: tensor<?x256xbf16>,
    %i: tensor<?x8xi32>, %dw: tensor<?x8xf32>, %dl: tensor<f32>,
    %x64: tensor<5x64xf16>, %i64: tensor<5x2xi64>, %dw64: tensor<5x2xf32>) {
  // CHECK: moe.route_grad sigmoid %{{.*}}, %{{.*}}, %{{.*}} {normalize, scale = 2.500000e+00 : f32} : tensor<?x256xbf16>, tensor<?x8xi32>, tensor<?x8xf32> -> tensor<?x256xf32>
  %dx = moe.route_grad sigmoid %logits, %i, %dw {normalize, scale = 2.5 : f32}
      : tensor<?x256xbf16>, tensor<?x8xi32>, tensor<?x8xf32> -> tensor<?x256xf32>
  // CHECK: moe.aux_loss sigmoid %{{.*}}, %{{.*}} {normalize, seq_len = 4096 : i64} : tensor<?x256xbf16>, tensor<?x8xi32> -> tensor<f32>
  %l = moe.aux_loss sigmoid %logits, %i {seq_len = 4096, normalize}
      : tensor<?x256xbf16>, tensor<?x8xi32> -> tensor<f32>
  // CHECK: moe.aux_loss_grad sigmoid %{{.*}}, %{{.*}}, %{{.*}} {normalize, seq_len = 4096 : i64} : tensor<?x256xbf16>, tensor<?x8xi32>, tensor<f32> -> tensor<?x256xf32>
  %dx2 = moe.aux_loss_grad sigmoid %logits, %i, %dl {seq_len = 4096, normalize}
      : tensor<?x256xbf16>, tensor<?x8xi32>, tensor<f32> -> tensor<?x256xf32>
  // CHECK: moe.route_aux_grad sigmoid %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {aux_normalize, normalize, scale = 2.500000e+00 : f32, seq_len = 4096 : i64} : tensor<?x256xbf16>, tensor<?x8xi32>, tensor<?x8xf32>, tensor<f32> -> tensor<?x256xf32>
  %dx3 = moe.route_aux_grad sigmoid %logits, %i, %dw, %dl
      {normalize, scale = 2.5 : f32, seq_len = 4096, aux_normalize}
      : tensor<?x256xbf16>, tensor<?x8xi32>, tensor<?x8xf32>, tensor<f32>
      -> tensor<?x256xf32>
  // Defaults, the other score functions, i64 indices, static T and a result
  // in the logits' element type.
  // CHECK: moe.route_grad softmax %{{.*}}, %{{.*}}, %{{.*}} : tensor<5x64xf16>, tensor<5x2xi64>, tensor<5x2xf32> -> tensor<5x64xf16>
  %dx4 = moe.route_grad softmax %x64, %i64, %dw64
      : tensor<5x64xf16>, tensor<5x2xi64>, tensor<5x2xf32> -> tensor<5x64xf16>
  // CHECK: moe.aux_loss sqrtsoftplus %{{.*}}, %{{.*}} : tensor<5x64xf16>, tensor<5x2xi64> -> tensor<f32>
  %l2 = moe.aux_loss sqrtsoftplus %x64, %i64 : tensor<5x64xf16>, tensor<5x2xi64> -> tensor<f32>
  // CHECK: moe.aux_loss_grad softmax %{{.*}}, %{{.*}}, %{{.*}} {seq_len = 2 : i64} : tensor<5x64xf16>, tensor<5x2xi64>, tensor<f32> -> tensor<5x64xf32>
  %dx5 = moe.aux_loss_grad softmax %x64, %i64, %dl {seq_len = 2}
      : tensor<5x64xf16>, tensor<5x2xi64>, tensor<f32> -> tensor<5x64xf32>
  return
}

// CHECK-LABEL: func.func @training_buffer_forms
func.func @training_buffer_forms(%x: memref<?x256xbf16>, %i: memref<?x8xi32>,
    %dw: memref<?x8xf32>, %dl: memref<f32>, %dx: memref<?x256xf32>,
    %l: memref<f32>, %dxb: memref<?x256xbf16>) {
  // CHECK: moe.buffer.route_grad sigmoid ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<?x256xbf16>, memref<?x8xi32>, memref<?x8xf32>) outs(%{{.*}} : memref<?x256xf32>) {normalize, scale = 2.500000e+00 : f32}
  moe.buffer.route_grad sigmoid
      ins(%x, %i, %dw : memref<?x256xbf16>, memref<?x8xi32>, memref<?x8xf32>)
      outs(%dx : memref<?x256xf32>) {normalize, scale = 2.5 : f32}
  // CHECK: moe.buffer.aux_loss sigmoid ins(%{{.*}}, %{{.*}} : memref<?x256xbf16>, memref<?x8xi32>) outs(%{{.*}} : memref<f32>) {normalize, seq_len = 4096 : i64}
  moe.buffer.aux_loss sigmoid ins(%x, %i : memref<?x256xbf16>, memref<?x8xi32>)
      outs(%l : memref<f32>) {seq_len = 4096, normalize}
  // CHECK: moe.buffer.aux_loss_grad sigmoid ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<?x256xbf16>, memref<?x8xi32>, memref<f32>) outs(%{{.*}} : memref<?x256xf32>) {normalize, seq_len = 4096 : i64}
  moe.buffer.aux_loss_grad sigmoid
      ins(%x, %i, %dl : memref<?x256xbf16>, memref<?x8xi32>, memref<f32>)
      outs(%dx : memref<?x256xf32>) {seq_len = 4096, normalize}
  // CHECK: moe.buffer.route_aux_grad sigmoid ins(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : memref<?x256xbf16>, memref<?x8xi32>, memref<?x8xf32>, memref<f32>) outs(%{{.*}} : memref<?x256xbf16>) {aux_normalize, normalize, scale = 2.500000e+00 : f32, seq_len = 4096 : i64}
  moe.buffer.route_aux_grad sigmoid
      ins(%x, %i, %dw, %dl : memref<?x256xbf16>, memref<?x8xi32>,
          memref<?x8xf32>, memref<f32>)
      outs(%dxb : memref<?x256xbf16>)
      {normalize, scale = 2.5 : f32, seq_len = 4096, aux_normalize}
  return
}

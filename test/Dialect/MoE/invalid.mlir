// RUN: moe-opt %s -split-input-file -verify-diagnostics

// One case per verifier rule and attribute constraint of the moe dialect,
// with the exact message.

func.func @f(%a: tensor<256xf32>) {
  // expected-error @+1 {{expected 'input' to have rank 2, got 'tensor<256xf32>'}}
  %0 = moe.score sigmoid %a : tensor<256xf32> -> tensor<256xf32>
  return
}

// -----

func.func @f(%a: tensor<4x?xf32>) {
  // expected-error @+1 {{expected the expert dimension of 'input' to be static, got 'tensor<4x?xf32>'}}
  %0 = moe.score sigmoid %a : tensor<4x?xf32> -> tensor<4x?xf32>
  return
}

// -----

func.func @f(%a: tensor<?x8xf32>) {
  // expected-error @+1 {{expected 'result' to have the shape of 'input', got 'tensor<?x4xf32>' and 'tensor<?x8xf32>'}}
  %0 = moe.score softmax %a : tensor<?x8xf32> -> tensor<?x4xf32>
  return
}

// -----

func.func @f(%a: tensor<?x8xi32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of 32-bit float or 16-bit float or bfloat16 type values, but got 'tensor<?x8xi32>'}}
  %0 = moe.score sigmoid %a : tensor<?x8xi32> -> tensor<?x8xf32>
  return
}

// -----

func.func @f(%a: tensor<?x8xf32>) {
  // expected-error @+1 {{result #0 must be ranked tensor of 32-bit float values, but got 'tensor<?x8xbf16>'}}
  %0 = moe.score sigmoid %a : tensor<?x8xf32> -> tensor<?x8xbf16>
  return
}

// -----

func.func @f(%s: tensor<?x8xf32>) {
  // expected-error @+1 {{attribute 'k' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %w, %i = moe.topk %s {k = 0} : tensor<?x8xf32> -> tensor<?x0xf32>, tensor<?x0xi32>
  return
}

// -----

func.func @f(%s: tensor<?x8xf32>) {
  // expected-error @+1 {{k = 9 exceeds the number of experts (8)}}
  %w, %i = moe.topk %s {k = 9} : tensor<?x8xf32> -> tensor<?x9xf32>, tensor<?x9xi32>
  return
}

// -----

func.func @f(%s: tensor<?x8xf32>) {
  // expected-error @+1 {{num_groups = 3 must be positive and divide the number of experts (8)}}
  %w, %i = moe.topk %s {k = 2, num_groups = 3} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%s: tensor<?x8xf32>) {
  // expected-error @+1 {{num_groups = 0 must be positive and divide the number of experts (8)}}
  %w, %i = moe.topk %s {k = 2, num_groups = 0} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%s: tensor<?x8xf32>) {
  // expected-error @+1 {{topk_groups = 5 must be in [1, num_groups = 4]}}
  %w, %i = moe.topk %s {k = 2, num_groups = 4, topk_groups = 5} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%s: tensor<?x8xf32>) {
  // expected-error @+1 {{topk_groups = 0 must be in [1, num_groups = 4]}}
  %w, %i = moe.topk %s {k = 2, num_groups = 4, topk_groups = 0} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%s: tensor<?x8xf32>) {
  // expected-error @+1 {{group_top = 3 must be in [1, 2], the experts per group}}
  %w, %i = moe.topk %s {k = 2, num_groups = 4, topk_groups = 2, group_top = 3} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%s: tensor<?x8xf32>) {
  // expected-error @+1 {{k = 5 exceeds the experts of the kept groups (2 x 2)}}
  %w, %i = moe.topk %s {k = 5, num_groups = 4, topk_groups = 2} : tensor<?x8xf32> -> tensor<?x5xf32>, tensor<?x5xi32>
  return
}

// -----

func.func @f(%s: tensor<?x8xf32>, %b: tensor<8xbf16>) {
  // expected-error @+1 {{expected an f32 bias, got 'bf16' (a low-precision bias changes which experts win)}}
  %w, %i = moe.topk %s bias(%b) {k = 2} : tensor<?x8xf32>, tensor<8xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%s: tensor<?x8xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{expected the expert dimension of 'bias' (4) to match 'scores' (8)}}
  %w, %i = moe.topk %s bias(%b) {k = 2} : tensor<?x8xf32>, tensor<4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%s: tensor<?x8xf32>, %b: tensor<1x8xf32>) {
  // expected-error @+1 {{expected 'bias' to have rank 1, got 'tensor<1x8xf32>'}}
  %w, %i = moe.topk %s bias(%b) {k = 2} : tensor<?x8xf32>, tensor<1x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%s: tensor<?x8xf32>) {
  // expected-error @+1 {{expected the token dimension of 'weights' (4) to match 'scores' (?)}}
  %w, %i = moe.topk %s {k = 2} : tensor<?x8xf32> -> tensor<4x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%s: tensor<?x8xf32>) {
  // expected-error @+1 {{expected 'indices' to have 2 columns (k), got 'tensor<?x3xi32>'}}
  %w, %i = moe.topk %s {k = 2} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x3xi32>
  return
}

// -----

func.func @f(%s: tensor<?x8xf32>) {
  // expected-error @+1 {{result #1 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values, but got 'tensor<?x2xf32>'}}
  %w, %i = moe.topk %s {k = 2} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xf32>
  return
}

// -----

func.func @f(%s: tensor<?x?xf32>) {
  // expected-error @+1 {{expected the expert dimension of 'scores' to be static, got 'tensor<?x?xf32>'}}
  %w, %i = moe.topk %s {k = 2} : tensor<?x?xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%s: tensor<?x8xbf16>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of 32-bit float values, but got 'tensor<?x8xbf16>'}}
  %w, %i = moe.topk %s {k = 2} : tensor<?x8xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%w: tensor<8xf32>) {
  // expected-error @+1 {{expected 'weights' to have rank 2, got 'tensor<8xf32>'}}
  %0 = moe.normalize %w : tensor<8xf32>
  return
}

// -----

func.func @f(%i: tensor<8xi32>) {
  // expected-error @+1 {{expected 'indices' to have rank 2, got 'tensor<8xi32>'}}
  %0 = moe.load %i {num_experts = 8} : tensor<8xi32> -> tensor<8xi32>
  return
}

// -----

func.func @f(%i: tensor<?x2xi32>) {
  // expected-error @+1 {{expected 'counts' to have 8 elements (num_experts), got 'tensor<16xi32>'}}
  %0 = moe.load %i {num_experts = 8} : tensor<?x2xi32> -> tensor<16xi32>
  return
}

// -----

func.func @f(%i: tensor<?x2xi32>) {
  // expected-error @+1 {{attribute 'num_experts' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %0 = moe.load %i {num_experts = 0} : tensor<?x2xi32> -> tensor<0xi32>
  return
}

// -----

func.func @f(%i: tensor<4x2xi32>, %m: tensor<5xi1>) {
  // expected-error @+1 {{expected the token dimension of 'mask' (5) to match 'indices' (4)}}
  %0 = moe.load %i mask(%m) {num_experts = 8} : tensor<4x2xi32>, tensor<5xi1> -> tensor<8xi32>
  return
}

// -----

func.func @f(%i: tensor<4x2xi32>, %m: tensor<4x1xi1>) {
  // expected-error @+1 {{expected 'mask' to have rank 1, got 'tensor<4x1xi1>'}}
  %0 = moe.load %i mask(%m) {num_experts = 8} : tensor<4x2xi32>, tensor<4x1xi1> -> tensor<8xi32>
  return
}

// -----

func.func @f(%i: tensor<?x2xi32>) {
  // expected-error @+1 {{result #0 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values, but got 'tensor<8xf32>'}}
  %0 = moe.load %i {num_experts = 8} : tensor<?x2xi32> -> tensor<8xf32>
  return
}

// -----

func.func @f(%i: tensor<?x2xi32>) {
  // expected-error @+1 {{expected 'counts' to have rank 1, got 'tensor<1x8xi32>'}}
  %0 = moe.load %i {num_experts = 8} : tensor<?x2xi32> -> tensor<1x8xi32>
  return
}

// -----

func.func @f(%b: tensor<8xbf16>, %c: tensor<8xi32>) {
  // expected-error @+1 {{expected an f32 bias, got 'bf16' (a low-precision bias changes which experts win)}}
  %0 = moe.update_bias sign %b, %c {rate = 1.0e-03 : f32} : tensor<8xbf16>, tensor<8xi32>
  return
}

// -----

func.func @f(%b: tensor<2x2x8xf32>, %c: tensor<2x2x8xi32>) {
  // expected-error @+1 {{expected 'bias' to have rank 1 ([E]) or 2 ([L, E]), got 'tensor<2x2x8xf32>'}}
  %0 = moe.update_bias sign %b, %c {rate = 1.0e-03 : f32} : tensor<2x2x8xf32>, tensor<2x2x8xi32>
  return
}

// -----

func.func @f(%b: tensor<8xf32>, %c: tensor<16xi32>) {
  // expected-error @+1 {{expected 'load' to have the shape of 'bias', got 'tensor<16xi32>' and 'tensor<8xf32>'}}
  %0 = moe.update_bias sign %b, %c {rate = 1.0e-03 : f32} : tensor<8xf32>, tensor<16xi32>
  return
}

// -----

func.func @f(%b: tensor<?xf32>, %c: tensor<?xi32>) {
  // expected-error @+1 {{expected the expert dimension of 'bias' to be static, got 'tensor<?xf32>'}}
  %0 = moe.update_bias sign %b, %c {rate = 1.0e-03 : f32} : tensor<?xf32>, tensor<?xi32>
  return
}

// -----

func.func @f(%b: tensor<8xf32>, %c: tensor<8xi8>) {
  // expected-error @+1 {{operand #1 must be ranked tensor of 32-bit signless integer or 64-bit signless integer or 32-bit float values, but got 'tensor<8xi8>'}}
  %0 = moe.update_bias sign %b, %c {rate = 1.0e-03 : f32} : tensor<8xf32>, tensor<8xi8>
  return
}

// -----

func.func @f(%b: tensor<8xf32>, %c: tensor<8xi32>) {
  // expected-error @+1 {{requires attribute 'rate'}}
  %0 = moe.update_bias sign %b, %c : tensor<8xf32>, tensor<8xi32>
  return
}

// -----

func.func @f(%c: tensor<2x8xi32>) {
  // expected-error @+1 {{expected 'load' to have rank 1, got 'tensor<2x8xi32>'}}
  %0 = moe.imbalance %c : tensor<2x8xi32> -> f32
  return
}

// -----

func.func @f(%c: tensor<?xi32>) {
  // expected-error @+1 {{expected the expert dimension of 'load' to be static, got 'tensor<?xi32>'}}
  %0 = moe.imbalance %c : tensor<?xi32> -> f32
  return
}

// -----

func.func @f(%x: tensor<?x8xf32>, %b: tensor<8xf16>) {
  // expected-error @+1 {{expected an f32 bias, got 'f16' (a low-precision bias changes which experts win)}}
  %w, %i, %c = moe.route sigmoid %x bias(%b) {k = 2} : tensor<?x8xf32>, tensor<8xf16> -> tensor<?x2xf32>, tensor<?x2xi32>, tensor<8xi32>
  return
}

// -----

func.func @f(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{expected the expert dimension of 'counts' (16) to match 'logits' (8)}}
  %w, %i, %c = moe.route sigmoid %x {k = 2} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>, tensor<16xi32>
  return
}

// -----

func.func @f(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{k = 3 exceeds the experts of the kept groups (1 x 2)}}
  %w, %i, %c = moe.route sigmoid %x {k = 3, num_groups = 4, topk_groups = 1} : tensor<?x8xf32> -> tensor<?x3xf32>, tensor<?x3xi32>, tensor<8xi32>
  return
}

// -----

func.func @f(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{expected 'counts' to have rank 1, got 'tensor<1x8xi32>'}}
  %w, %i, %c = moe.route sigmoid %x {k = 2} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>, tensor<1x8xi32>
  return
}

// -----

func.func @f(%i: tensor<?x2xi32>) {
  // expected-error @+1 {{expected 'offsets' to have 9 elements (num_experts + 1), got 'tensor<8xi32>'}}
  %o, %t, %s = moe.dispatch %i {num_experts = 8} : tensor<?x2xi32> -> tensor<8xi32>, tensor<?xi32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%i: tensor<4x2xi32>) {
  // expected-error @+1 {{expected 'token_ids' to have 32 rows (T * K + E * (block - 1)), got 'tensor<8xi32>'}}
  %o, %t, %s = moe.dispatch %i {num_experts = 8, block = 4} : tensor<4x2xi32> -> tensor<9xi32>, tensor<8xi32>, tensor<4x2xi32>
  return
}

// -----

func.func @f(%i: tensor<?x2xi32>) {
  // expected-error @+1 {{expected 'token_ids' to have 32 rows (E * roundup(capacity, block)), got 'tensor<24xi32>'}}
  %o, %t, %s = moe.dispatch %i {num_experts = 8, capacity = 3, block = 2} : tensor<?x2xi32> -> tensor<9xi32>, tensor<24xi32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%i: tensor<?x2xi32>) {
  // expected-error @+1 {{expected a dynamic number of rows in 'token_ids' for a dynamic token count without capacity, got 'tensor<16xi32>'}}
  %o, %t, %s = moe.dispatch %i {num_experts = 8} : tensor<?x2xi32> -> tensor<9xi32>, tensor<16xi32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%i: tensor<?x2xi32>) {
  // expected-error @+1 {{expected 'slots' to have the shape of 'indices', got 'tensor<?x3xi32>' and 'tensor<?x2xi32>'}}
  %o, %t, %s = moe.dispatch %i {num_experts = 8} : tensor<?x2xi32> -> tensor<9xi32>, tensor<?xi32>, tensor<?x3xi32>
  return
}

// -----

func.func @f(%i: tensor<?x2xi32>) {
  // expected-error @+1 {{attribute 'block' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %o, %t, %s = moe.dispatch %i {num_experts = 8, block = 0} : tensor<?x2xi32> -> tensor<9xi32>, tensor<?xi32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%i: tensor<?x2xi32>) {
  // expected-error @+1 {{attribute 'capacity' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %o, %t, %s = moe.dispatch %i {num_experts = 8, capacity = 0} : tensor<?x2xi32> -> tensor<9xi32>, tensor<0xi32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%i: tensor<?x?xi32>) {
  // expected-error @+1 {{expected the k dimension of 'indices' to be static, got 'tensor<?x?xi32>'}}
  %o, %t, %s = moe.dispatch %i {num_experts = 8} : tensor<?x?xi32> -> tensor<9xi32>, tensor<?xi32>, tensor<?x?xi32>
  return
}

// -----

func.func @f(%i: tensor<?x2xi32>) {
  // expected-error @+1 {{expected 'token_ids' to have rank 1, got 'tensor<?x1xi32>'}}
  %o, %t, %s = moe.dispatch %i {num_experts = 8} : tensor<?x2xi32> -> tensor<9xi32>, tensor<?x1xi32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %t: tensor<?xi32>) {
  // expected-error @+1 {{expected 'result' to have the element type of 'input', got 'tensor<?x16xbf16>' and 'tensor<?x16xf32>'}}
  %0 = moe.permute %x, %t : tensor<?x16xf32>, tensor<?xi32> -> tensor<?x16xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %t: tensor<32xi32>) {
  // expected-error @+1 {{expected the row dimension of 'result' (16) to match 'token_ids' (32)}}
  %0 = moe.permute %x, %t : tensor<?x16xf32>, tensor<32xi32> -> tensor<16x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x16xf32>, %t: tensor<?xi32>) {
  // expected-error @+1 {{expected the width dimension of 'result' (8) to match 'input' (16)}}
  %0 = moe.permute %x, %t : tensor<?x16xf32>, tensor<?xi32> -> tensor<?x8xf32>
  return
}

// -----

func.func @f(%x: tensor<16xf32>, %t: tensor<?xi32>) {
  // expected-error @+1 {{expected 'input' to have rank 2, got 'tensor<16xf32>'}}
  %0 = moe.permute %x, %t : tensor<16xf32>, tensor<?xi32> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%y: tensor<?x16xf32>, %w: tensor<?x2xf32>, %s: tensor<?x3xi32>) {
  // expected-error @+1 {{expected 'slots' to have the shape of 'weights', got 'tensor<?x3xi32>' and 'tensor<?x2xf32>'}}
  %0 = moe.combine %y, %w, %s : tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x3xi32> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%y: tensor<?x16xbf16>, %w: tensor<?x2xf32>, %s: tensor<?x2xi32>) {
  // expected-error @+1 {{expected 'result' to have the element type of 'expert_out', got 'tensor<?x16xf32>' and 'tensor<?x16xbf16>'}}
  %0 = moe.combine %y, %w, %s : tensor<?x16xbf16>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%y: tensor<?x16xf32>, %w: tensor<4x2xf32>, %s: tensor<4x2xi32>) {
  // expected-error @+1 {{expected the token dimension of 'result' (5) to match 'weights' (4)}}
  %0 = moe.combine %y, %w, %s : tensor<?x16xf32>, tensor<4x2xf32>, tensor<4x2xi32> -> tensor<5x16xf32>
  return
}

// -----

func.func @f(%y: tensor<?x16xf32>, %w: tensor<?x2xf32>, %s: tensor<?x2xi32>) {
  // expected-error @+1 {{expected the width dimension of 'result' (32) to match 'expert_out' (16)}}
  %0 = moe.combine %y, %w, %s : tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<?x32xf32>
  return
}

// -----

func.func @f(%x: memref<?x8xf32>, %s: memref<?x4xf32>) {
  // expected-error @+1 {{expected 'output' to have the shape of 'input', got 'memref<?x4xf32>' and 'memref<?x8xf32>'}}
  moe.buffer.score sigmoid ins(%x : memref<?x8xf32>) outs(%s : memref<?x4xf32>)
  return
}

// -----

func.func @f(%s: memref<?x8xf32>, %b: memref<8xbf16>, %w: memref<?x2xf32>, %i: memref<?x2xi32>) {
  // expected-error @+1 {{expected an f32 bias, got 'bf16' (a low-precision bias changes which experts win)}}
  moe.buffer.topk ins(%s : memref<?x8xf32>) bias(%b : memref<8xbf16>) outs(%w, %i : memref<?x2xf32>, memref<?x2xi32>) {k = 2}
  return
}

// -----

func.func @f(%w: memref<?x2xf32>, %o: memref<?x3xf32>) {
  // expected-error @+1 {{expected 'output' to have the shape of 'weights', got 'memref<?x3xf32>' and 'memref<?x2xf32>'}}
  moe.buffer.normalize ins(%w : memref<?x2xf32>) outs(%o : memref<?x3xf32>)
  return
}

// -----

func.func @f(%i: memref<?x2xi32>, %c: memref<4xi32>) {
  // expected-error @+1 {{expected 'counts' to have 8 elements (num_experts), got 'memref<4xi32>'}}
  moe.buffer.load ins(%i : memref<?x2xi32>) outs(%c : memref<4xi32>) {num_experts = 8}
  return
}

// -----

func.func @f(%b: memref<8xf32>, %c: memref<8xi32>, %o: memref<8xbf16>) {
  // expected-error @+1 {{expected an f32 'output', got 'memref<8xbf16>'}}
  moe.buffer.update_bias sign ins(%b, %c : memref<8xf32>, memref<8xi32>) outs(%o : memref<8xbf16>) {rate = 1.0e-03 : f32}
  return
}

// -----

func.func @f(%b: memref<8xf32>, %c: memref<8xi32>, %o: memref<4xf32>) {
  // expected-error @+1 {{expected 'output' to have the shape of 'bias', got 'memref<4xf32>' and 'memref<8xf32>'}}
  moe.buffer.update_bias sign ins(%b, %c : memref<8xf32>, memref<8xi32>) outs(%o : memref<4xf32>) {rate = 1.0e-03 : f32}
  return
}

// -----

func.func @f(%c: memref<?xi32>) {
  // expected-error @+1 {{expected the expert dimension of 'load' to be static, got 'memref<?xi32>'}}
  %0 = moe.buffer.imbalance ins(%c : memref<?xi32>) -> f32
  return
}

// -----

func.func @f(%x: memref<?x8xf32>, %w: memref<?x2xf32>, %i: memref<?x2xi32>, %c: memref<8xi32>) {
  // expected-error @+1 {{k = 9 exceeds the number of experts (8)}}
  moe.buffer.route sigmoid ins(%x : memref<?x8xf32>) outs(%w, %i, %c : memref<?x2xf32>, memref<?x2xi32>, memref<8xi32>) {k = 9}
  return
}

// -----

func.func @f(%i: memref<4x2xi32>, %o: memref<9xi32>, %t: memref<7xi32>, %s: memref<4x2xi32>) {
  // expected-error @+1 {{expected 'token_ids' to have 8 rows (T * K + E * (block - 1)), got 'memref<7xi32>'}}
  moe.buffer.dispatch ins(%i : memref<4x2xi32>) outs(%o, %t, %s : memref<9xi32>, memref<7xi32>, memref<4x2xi32>) {num_experts = 8}
  return
}

// -----

func.func @f(%x: memref<?x16xf32>, %t: memref<?xi32>, %o: memref<?x16xf16>) {
  // expected-error @+1 {{expected 'output' to have the element type of 'input', got 'memref<?x16xf16>' and 'memref<?x16xf32>'}}
  moe.buffer.permute ins(%x, %t : memref<?x16xf32>, memref<?xi32>) outs(%o : memref<?x16xf16>)
  return
}

// -----

func.func @f(%y: memref<?x16xf32>, %w: memref<?x2xf32>, %s: memref<?x2xi32>, %o: memref<?x8xf32>) {
  // expected-error @+1 {{expected the width dimension of 'output' (8) to match 'expert_out' (16)}}
  moe.buffer.combine ins(%y, %w, %s : memref<?x16xf32>, memref<?x2xf32>, memref<?x2xi32>) outs(%o : memref<?x8xf32>)
  return
}

// -----

func.func @f(%s: tensor<?x8xf32>) {
  // expected-error @+1 {{requires attribute 'k'}}
  %w, %i = moe.topk %s : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%s: tensor<?x8xf32>) {
  // expected-error @+1 {{attribute 'k' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %w, %i = moe.topk %s {k = 2.0 : f32} : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{expected string or keyword containing one of the following enum values for attribute 'function' [sigmoid, softmax, sqrtsoftplus]}}
  %0 = moe.score relu %x : tensor<?x8xf32> -> tensor<?x8xf32>
  return
}

// -----

func.func @f(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{custom op 'moe.frobnicate' is unknown}}
  %0 = moe.frobnicate %x : tensor<?x8xf32>
  return
}

// -----

func.func @f(%i: tensor<?x2xi32>) {
  // expected-error @+1 {{the number of token_ids rows for num_experts = 64, block = 4611686018427387904 overflows 64 bits}}
  %o, %t, %s = moe.dispatch %i {num_experts = 64, block = 4611686018427387904} : tensor<?x2xi32> -> tensor<65xi32>, tensor<?xi32>, tensor<?x2xi32>
  return
}

// -----

func.func @f(%i: tensor<4x2xi32>) {
  // expected-error @+1 {{the number of token_ids rows for num_experts = 64, block = 1, capacity = 9223372036854775807 overflows 64 bits}}
  %o, %t, %s = moe.dispatch %i {num_experts = 64, capacity = 9223372036854775807} : tensor<4x2xi32> -> tensor<65xi32>, tensor<?xi32>, tensor<4x2xi32>
  return
}

// -----

func.func @f(%i: tensor<4611686018427387904x8xi32>) {
  // expected-error @+1 {{the number of token_ids rows for num_experts = 64, block = 1 overflows 64 bits}}
  %o, %t, %s = moe.dispatch %i {num_experts = 64} : tensor<4611686018427387904x8xi32> -> tensor<65xi32>, tensor<?xi32>, tensor<4611686018427387904x8xi32>
  return
}

// -----

// Training ops (contract v2): one case per rule.

func.func @f(%x: tensor<256xf32>, %i: tensor<?x8xi32>, %dw: tensor<?x8xf32>) {
  // expected-error @+1 {{expected 'logits' to have rank 2, got 'tensor<256xf32>'}}
  %0 = moe.route_grad sigmoid %x, %i, %dw : tensor<256xf32>, tensor<?x8xi32>, tensor<?x8xf32> -> tensor<256xf32>
  return
}

// -----

func.func @f(%x: tensor<4x?xf32>, %i: tensor<4x8xi32>, %dw: tensor<4x8xf32>) {
  // expected-error @+1 {{expected the expert dimension of 'logits' to be static, got 'tensor<4x?xf32>'}}
  %0 = moe.route_grad sigmoid %x, %i, %dw : tensor<4x?xf32>, tensor<4x8xi32>, tensor<4x8xf32> -> tensor<4x?xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %i: tensor<?x?xi32>, %dw: tensor<?x?xf32>) {
  // expected-error @+1 {{expected the k dimension of 'indices' to be static, got 'tensor<?x?xi32>'}}
  %0 = moe.route_grad sigmoid %x, %i, %dw : tensor<?x256xf32>, tensor<?x?xi32>, tensor<?x?xf32> -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %i: tensor<?x0xi32>, %dw: tensor<?x0xf32>) {
  // expected-error @+1 {{expected at least one column (k) in 'indices', got 'tensor<?x0xi32>'}}
  %0 = moe.route_grad sigmoid %x, %i, %dw : tensor<?x256xf32>, tensor<?x0xi32>, tensor<?x0xf32> -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<4x256xf32>, %i: tensor<5x8xi32>, %dw: tensor<5x8xf32>) {
  // expected-error @+1 {{expected the token dimension of 'indices' (5) to match 'logits' (4)}}
  %0 = moe.route_grad sigmoid %x, %i, %dw : tensor<4x256xf32>, tensor<5x8xi32>, tensor<5x8xf32> -> tensor<4x256xf32>
  return
}

// -----

// A dynamic T only matches a dynamic T.
func.func @f(%x: tensor<?x256xf32>, %i: tensor<4x8xi32>, %dw: tensor<4x8xf32>) {
  // expected-error @+1 {{expected the token dimension of 'indices' (4) to match 'logits' (?)}}
  %0 = moe.route_grad sigmoid %x, %i, %dw : tensor<?x256xf32>, tensor<4x8xi32>, tensor<4x8xf32> -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %i: tensor<?x8xi32>, %dw: tensor<?x4xf32>) {
  // expected-error @+1 {{expected 'grad' to have the shape of 'indices', got 'tensor<?x4xf32>' and 'tensor<?x8xi32>'}}
  %0 = moe.route_grad sigmoid %x, %i, %dw : tensor<?x256xf32>, tensor<?x8xi32>, tensor<?x4xf32> -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %i: tensor<?x8xi32>, %dw: tensor<?x8xbf16>) {
  // expected-error @+1 {{operand #2 must be ranked tensor of 32-bit float values}}
  %0 = moe.route_grad sigmoid %x, %i, %dw : tensor<?x256xf32>, tensor<?x8xi32>, tensor<?x8xbf16> -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %i: tensor<?x8xi16>, %dw: tensor<?x8xf32>) {
  // expected-error @+1 {{operand #1 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values}}
  %0 = moe.route_grad sigmoid %x, %i, %dw : tensor<?x256xf32>, tensor<?x8xi16>, tensor<?x8xf32> -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xbf16>, %i: tensor<?x8xi32>, %dw: tensor<?x8xf32>) {
  // expected-error @+1 {{expected 'result' to have element type f32 or that of 'logits', got 'tensor<?x256xf16>'}}
  %0 = moe.route_grad sigmoid %x, %i, %dw : tensor<?x256xbf16>, tensor<?x8xi32>, tensor<?x8xf32> -> tensor<?x256xf16>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %i: tensor<?x8xi32>, %dw: tensor<?x8xf32>) {
  // expected-error @+1 {{expected 'result' to have the shape of 'logits', got 'tensor<?x128xf32>' and 'tensor<?x256xf32>'}}
  %0 = moe.route_grad sigmoid %x, %i, %dw : tensor<?x256xf32>, tensor<?x8xi32>, tensor<?x8xf32> -> tensor<?x128xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %i: tensor<?x8xi32>) {
  // expected-error @+1 {{attribute 'seq_len' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %0 = moe.aux_loss sigmoid %x, %i {seq_len = 0} : tensor<?x256xf32>, tensor<?x8xi32> -> tensor<f32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %i: tensor<?x8xi32>) {
  // expected-error @+1 {{expected 'result' to have rank 0, got 'tensor<1xf32>'}}
  %0 = moe.aux_loss sigmoid %x, %i : tensor<?x256xf32>, tensor<?x8xi32> -> tensor<1xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %i: tensor<?x8xi32>) {
  // expected-error @+1 {{result #0 must be ranked tensor of 32-bit float values}}
  %0 = moe.aux_loss sigmoid %x, %i : tensor<?x256xf32>, tensor<?x8xi32> -> tensor<bf16>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %i: tensor<3x8xi32>) {
  // expected-error @+1 {{expected the token dimension of 'indices' (3) to match 'logits' (?)}}
  %0 = moe.aux_loss sigmoid %x, %i : tensor<?x256xf32>, tensor<3x8xi32> -> tensor<f32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %i: tensor<?x8xi32>, %dl: tensor<1xf32>) {
  // expected-error @+1 {{expected 'loss_grad' to have rank 0, got 'tensor<1xf32>'}}
  %0 = moe.aux_loss_grad sigmoid %x, %i, %dl : tensor<?x256xf32>, tensor<?x8xi32>, tensor<1xf32> -> tensor<?x256xf32>
  return
}

// -----

// The balance loss gradient is f32 only.
func.func @f(%x: tensor<?x256xbf16>, %i: tensor<?x8xi32>, %dl: tensor<f32>) {
  // expected-error @+1 {{result #0 must be ranked tensor of 32-bit float values}}
  %0 = moe.aux_loss_grad sigmoid %x, %i, %dl : tensor<?x256xbf16>, tensor<?x8xi32>, tensor<f32> -> tensor<?x256xbf16>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %i: tensor<?x8xi32>, %dl: tensor<f32>) {
  // expected-error @+1 {{expected 'result' to have the shape of 'logits', got 'tensor<?x8xf32>' and 'tensor<?x256xf32>'}}
  %0 = moe.aux_loss_grad sigmoid %x, %i, %dl : tensor<?x256xf32>, tensor<?x8xi32>, tensor<f32> -> tensor<?x8xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %i: tensor<?x8xi32>, %dw: tensor<?x8xf32>, %dl: tensor<2xf32>) {
  // expected-error @+1 {{expected 'loss_grad' to have rank 0, got 'tensor<2xf32>'}}
  %0 = moe.route_aux_grad sigmoid %x, %i, %dw, %dl : tensor<?x256xf32>, tensor<?x8xi32>, tensor<?x8xf32>, tensor<2xf32> -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %i: tensor<?x8xi32>, %dw: tensor<?x8xf32>, %dl: tensor<f32>) {
  // expected-error @+1 {{attribute 'seq_len' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %0 = moe.route_aux_grad sigmoid %x, %i, %dw, %dl {seq_len = -4} : tensor<?x256xf32>, tensor<?x8xi32>, tensor<?x8xf32>, tensor<f32> -> tensor<?x256xf32>
  return
}

// -----

// The buffer forms check the same rules on their outs.
func.func @f(%x: memref<?x256xf32>, %i: memref<?x8xi32>, %l: memref<1xf32>) {
  // expected-error @+1 {{expected 'output' to have rank 0, got 'memref<1xf32>'}}
  moe.buffer.aux_loss sigmoid ins(%x, %i : memref<?x256xf32>, memref<?x8xi32>) outs(%l : memref<1xf32>)
  return
}

// -----

func.func @f(%x: memref<?x256xf32>, %i: memref<?x8xi32>, %dw: memref<?x8xf32>, %dx: memref<?x256xf16>) {
  // expected-error @+1 {{expected 'output' to have element type f32 or that of 'logits', got 'memref<?x256xf16>'}}
  moe.buffer.route_grad sigmoid ins(%x, %i, %dw : memref<?x256xf32>, memref<?x8xi32>, memref<?x8xf32>) outs(%dx : memref<?x256xf16>)
  return
}

// -----

// A bare float literal is an f64: the message says to write its type.
func.func @f(%w: tensor<?x8xf32>) {
  // expected-error @+1 {{attribute 'scale' failed to satisfy constraint: 32-bit float attribute (write the type: `2.5 : f32`, not `2.5`)}}
  %0 = moe.normalize %w {scale = 2.5} : tensor<?x8xf32>
  return
}

// -----

func.func @f(%b: tensor<8xf32>, %c: tensor<8xi32>) {
  // expected-error @+1 {{attribute 'rate' failed to satisfy constraint: 32-bit float attribute (write the type: `2.5 : f32`, not `2.5`)}}
  %0 = moe.update_bias sign %b, %c {rate = 1.0e-03} : tensor<8xf32>, tensor<8xi32>
  return
}

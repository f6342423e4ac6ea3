// RUN: moe-opt %s -convert-moe-to-gpu -split-input-file -verify-diagnostics

// Shapes beyond the limits of the kernels are refused by the pattern that
// matches them, with a diagnostic naming the op the user wrote and the limit
// (conversion then reports the op it could not legalize).

func.func @too_many_experts(%s: memref<?x2048xf32>, %w: memref<?x2xf32>, %i: memref<?x2xi32>) {
  // expected-error @+2 {{'moe.topk' op GPU lowering supports at most 1024 experts (32 per lane of a warp), got 2048}}
  // expected-error @+1 {{failed to legalize operation 'moe.buffer.topk'}}
  moe.buffer.topk ins(%s : memref<?x2048xf32>) outs(%w, %i : memref<?x2xf32>, memref<?x2xi32>) {k = 2}
  return
}

// -----

func.func @k_too_large(%x: memref<?x64xf32>, %w: memref<?x33xf32>, %i: memref<?x33xi32>, %c: memref<64xi32>) {
  // expected-error @+2 {{'moe.route' op GPU lowering supports k <= 32, got 33}}
  // expected-error @+1 {{failed to legalize operation 'moe.buffer.route'}}
  moe.buffer.route sigmoid ins(%x : memref<?x64xf32>)
      outs(%w, %i, %c : memref<?x33xf32>, memref<?x33xi32>, memref<64xi32>) {k = 33}
  return
}

// -----

func.func @too_many_groups(%s: memref<?x128xf32>, %w: memref<?x2xf32>, %i: memref<?x2xi32>) {
  // expected-error @+2 {{'moe.topk' op GPU lowering supports at most 64 expert groups, got 128}}
  // expected-error @+1 {{failed to legalize operation 'moe.buffer.topk'}}
  moe.buffer.topk ins(%s : memref<?x128xf32>) outs(%w, %i : memref<?x2xf32>, memref<?x2xi32>) {k = 2, num_groups = 128, topk_groups = 4}
  return
}

// -----

func.func @strided(%x: memref<?x64xf32, strided<[128, 1]>>, %s: memref<?x64xf32>) {
  // expected-error @+1 {{'moe.score' op GPU lowering with host copies expects identity-layout buffers, got 'memref<?x64xf32, strided<[128, 1]>>'}}
  moe.buffer.score sigmoid ins(%x : memref<?x64xf32, strided<[128, 1]>>) outs(%s : memref<?x64xf32>)
  return
}

// -----

func.func @load_histogram_too_large(%i: memref<?x2xi64>, %c: memref<8192xi64>) {
  // expected-error @+2 {{'moe.load' op GPU lowering keeps the counts in workgroup memory: at most 49152 bytes, got 65536}}
  // expected-error @+1 {{failed to legalize operation 'moe.buffer.load'}}
  moe.buffer.load ins(%i : memref<?x2xi64>) outs(%c : memref<8192xi64>) {num_experts = 8192}
  return
}

// -----

func.func @dispatch_histogram_too_large(%i: memref<?x2xi32>, %o: memref<8193xi32>, %t: memref<?xi32>, %s: memref<?x2xi32>) {
  // expected-error @+2 {{'moe.dispatch' op GPU lowering keeps the counts in workgroup memory: at most 49152 bytes, got 65536}}
  // expected-error @+1 {{failed to legalize operation 'moe.buffer.dispatch'}}
  moe.buffer.dispatch ins(%i : memref<?x2xi32>) outs(%o, %t, %s : memref<8193xi32>, memref<?xi32>, memref<?x2xi32>) {num_experts = 8192}
  return
}

// -----

func.func @route_grad_too_many_experts(%x: memref<?x2048xf32>, %i: memref<?x2xi32>, %dw: memref<?x2xf32>, %dx: memref<?x2048xf32>) {
  // expected-error @+2 {{'moe.route_grad' op GPU lowering supports at most 1024 experts (32 per lane of a warp), got 2048}}
  // expected-error @+1 {{failed to legalize operation 'moe.buffer.route_grad'}}
  moe.buffer.route_grad sigmoid ins(%x, %i, %dw : memref<?x2048xf32>, memref<?x2xi32>, memref<?x2xf32>)
      outs(%dx : memref<?x2048xf32>)
  return
}

// -----

func.func @aux_loss_k_too_large(%x: memref<?x64xf32>, %i: memref<?x33xi32>, %l: memref<f32>) {
  // expected-error @+2 {{'moe.aux_loss' op GPU lowering supports k <= 32, got 33}}
  // expected-error @+1 {{failed to legalize operation 'moe.buffer.aux_loss'}}
  moe.buffer.aux_loss sigmoid ins(%x, %i : memref<?x64xf32>, memref<?x33xi32>) outs(%l : memref<f32>)
  return
}

// -----

func.func @aux_loss_grad_too_many_experts(%x: memref<?x1056xbf16>, %i: memref<?x8xi64>, %dl: memref<f32>, %dx: memref<?x1056xf32>) {
  // expected-error @+2 {{'moe.aux_loss_grad' op GPU lowering supports at most 1024 experts (32 per lane of a warp), got 1056}}
  // expected-error @+1 {{failed to legalize operation 'moe.buffer.aux_loss_grad'}}
  moe.buffer.aux_loss_grad softmax ins(%x, %i, %dl : memref<?x1056xbf16>, memref<?x8xi64>, memref<f32>)
      outs(%dx : memref<?x1056xf32>) {seq_len = 128}
  return
}

// -----

func.func @route_aux_grad_k_too_large(%x: memref<?x64xf32>, %i: memref<?x40xi32>, %dw: memref<?x40xf32>, %dl: memref<f32>, %dx: memref<?x64xf32>) {
  // expected-error @+2 {{'moe.route_aux_grad' op GPU lowering supports k <= 32, got 40}}
  // expected-error @+1 {{failed to legalize operation 'moe.buffer.route_aux_grad'}}
  moe.buffer.route_aux_grad sigmoid ins(%x, %i, %dw, %dl : memref<?x64xf32>, memref<?x40xi32>, memref<?x40xf32>, memref<f32>)
      outs(%dx : memref<?x64xf32>)
  return
}

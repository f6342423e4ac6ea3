// The router backward of the CPU training benchmark on caller-owned buffers
// (DeepSeek-V3: E = 256, K = 8, sigmoid, normalize, scale 2.5; the
// sequence-wise balance loss on normalized scores). bench/cpu/train_bench.py
// builds this with --moe-lower-to-cpu into a shared library and calls it
// through the C interface on NumPy arrays.

// The fused op that --moe-fuse-training makes of route_grad + aux_loss_grad:
// one pass over the logits per token, dx written once.
func.func @grad_fused(%x: memref<?x256xf32>, %i: memref<?x8xi32>, %dw: memref<?x8xf32>,
    %dl: memref<f32>, %dx: memref<?x256xf32>, %g: memref<?x256xf32>,
    %a: memref<?x256xf32>) attributes {llvm.emit_c_interface} {
  moe.buffer.route_aux_grad sigmoid
      ins(%x, %i, %dw, %dl : memref<?x256xf32>, memref<?x8xi32>, memref<?x8xf32>, memref<f32>)
      outs(%dx : memref<?x256xf32>)
      {normalize, scale = 2.5 : f32, seq_len = 4096, aux_normalize}
  return
}

// The same sum unfused: each gradient on its own, then their sum.
func.func @grad_unfused(%x: memref<?x256xf32>, %i: memref<?x8xi32>, %dw: memref<?x8xf32>,
    %dl: memref<f32>, %dx: memref<?x256xf32>, %g: memref<?x256xf32>,
    %a: memref<?x256xf32>) attributes {llvm.emit_c_interface} {
  moe.buffer.route_grad sigmoid
      ins(%x, %i, %dw : memref<?x256xf32>, memref<?x8xi32>, memref<?x8xf32>)
      outs(%g : memref<?x256xf32>) {normalize, scale = 2.5 : f32}
  moe.buffer.aux_loss_grad sigmoid
      ins(%x, %i, %dl : memref<?x256xf32>, memref<?x8xi32>, memref<f32>)
      outs(%a : memref<?x256xf32>) {seq_len = 4096, normalize}
  linalg.add ins(%g, %a : memref<?x256xf32>, memref<?x256xf32>)
      outs(%dx : memref<?x256xf32>)
  return
}

// The routing gradient alone.
func.func @grad_route(%x: memref<?x256xf32>, %i: memref<?x8xi32>, %dw: memref<?x8xf32>,
    %dl: memref<f32>, %dx: memref<?x256xf32>, %g: memref<?x256xf32>,
    %a: memref<?x256xf32>) attributes {llvm.emit_c_interface} {
  moe.buffer.route_grad sigmoid
      ins(%x, %i, %dw : memref<?x256xf32>, memref<?x8xi32>, memref<?x8xf32>)
      outs(%dx : memref<?x256xf32>) {normalize, scale = 2.5 : f32}
  return
}

// The router's training step of the GPU benchmark, on device buffers
// (lowered with --moe-lower-to-nvvm="host-copies=0"): DeepSeek-V3's routing
// gradient (sigmoid, normalize, scale 2.5) and its sequence-wise balance loss
// gradient (sequences of 4096, normalized scores), fused into one kernel
// after a counting kernel; and the routing gradient alone.
// bench/gpu/train_bench.cpp calls these through their C interface.

func.func @dsv3_f32_step(%x: memref<?x256xf32>, %i: memref<?x8xi32>, %dw: memref<?x8xf32>,
    %dl: memref<f32>, %dx: memref<?x256xf32>) attributes {llvm.emit_c_interface} {
  moe.buffer.route_aux_grad sigmoid ins(%x, %i, %dw, %dl : memref<?x256xf32>, memref<?x8xi32>,
      memref<?x8xf32>, memref<f32>) outs(%dx : memref<?x256xf32>)
      {normalize, scale = 2.5 : f32, seq_len = 4096, aux_normalize}
  return
}

func.func @dsv3_bf16_step(%x: memref<?x256xbf16>, %i: memref<?x8xi32>, %dw: memref<?x8xf32>,
    %dl: memref<f32>, %dx: memref<?x256xf32>) attributes {llvm.emit_c_interface} {
  moe.buffer.route_aux_grad sigmoid ins(%x, %i, %dw, %dl : memref<?x256xbf16>, memref<?x8xi32>,
      memref<?x8xf32>, memref<f32>) outs(%dx : memref<?x256xf32>)
      {normalize, scale = 2.5 : f32, seq_len = 4096, aux_normalize}
  return
}

func.func @dsv3_f32_route_grad(%x: memref<?x256xf32>, %i: memref<?x8xi32>, %dw: memref<?x8xf32>,
    %dx: memref<?x256xf32>) attributes {llvm.emit_c_interface} {
  moe.buffer.route_grad sigmoid ins(%x, %i, %dw : memref<?x256xf32>, memref<?x8xi32>,
      memref<?x8xf32>) outs(%dx : memref<?x256xf32>) {normalize, scale = 2.5 : f32}
  return
}

func.func @dsv3_bf16_route_grad(%x: memref<?x256xbf16>, %i: memref<?x8xi32>, %dw: memref<?x8xf32>,
    %dx: memref<?x256xf32>) attributes {llvm.emit_c_interface} {
  moe.buffer.route_grad sigmoid ins(%x, %i, %dw : memref<?x256xbf16>, memref<?x8xi32>,
      memref<?x8xf32>) outs(%dx : memref<?x256xf32>) {normalize, scale = 2.5 : f32}
  return
}

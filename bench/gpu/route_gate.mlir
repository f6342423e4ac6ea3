// The routing gate of the GPU benchmark, on device buffers (lowered with
// --moe-lower-to-nvvm="host-copies=0"): one moe.route per call, which is a
// counts memset and one kernel. bench/gpu/route_bench.cpp calls these
// through their C interface.

// DeepSeek-V3: 256 experts, 8 groups keep 4, top-8, bias, renormalise, 2.5.
func.func @dsv3_f32(%x: memref<?x256xf32>, %b: memref<256xf32>, %w: memref<?x8xf32>,
    %i: memref<?x8xi32>, %c: memref<256xi32>) attributes {llvm.emit_c_interface} {
  moe.buffer.route sigmoid ins(%x : memref<?x256xf32>) bias(%b : memref<256xf32>)
      outs(%w, %i, %c : memref<?x8xf32>, memref<?x8xi32>, memref<256xi32>)
      {k = 8, num_groups = 8, topk_groups = 4, normalize, scale = 2.5 : f32}
  return
}

func.func @dsv3_bf16(%x: memref<?x256xbf16>, %b: memref<256xf32>, %w: memref<?x8xf32>,
    %i: memref<?x8xi32>, %c: memref<256xi32>) attributes {llvm.emit_c_interface} {
  moe.buffer.route sigmoid ins(%x : memref<?x256xbf16>) bias(%b : memref<256xf32>)
      outs(%w, %i, %c : memref<?x8xf32>, memref<?x8xi32>, memref<256xi32>)
      {k = 8, num_groups = 8, topk_groups = 4, normalize, scale = 2.5 : f32}
  return
}

// Kimi K2: 384 experts, one group, top-8, bias, renormalise.
func.func @kimi_f32(%x: memref<?x384xf32>, %b: memref<384xf32>, %w: memref<?x8xf32>,
    %i: memref<?x8xi32>, %c: memref<384xi32>) attributes {llvm.emit_c_interface} {
  moe.buffer.route sigmoid ins(%x : memref<?x384xf32>) bias(%b : memref<384xf32>)
      outs(%w, %i, %c : memref<?x8xf32>, memref<?x8xi32>, memref<384xi32>)
      {k = 8, normalize}
  return
}

func.func @kimi_bf16(%x: memref<?x384xbf16>, %b: memref<384xf32>, %w: memref<?x8xf32>,
    %i: memref<?x8xi32>, %c: memref<384xi32>) attributes {llvm.emit_c_interface} {
  moe.buffer.route sigmoid ins(%x : memref<?x384xbf16>) bias(%b : memref<384xf32>)
      outs(%w, %i, %c : memref<?x8xf32>, memref<?x8xi32>, memref<384xi32>)
      {k = 8, normalize}
  return
}

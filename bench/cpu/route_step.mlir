// The training step of the CPU benchmark on caller-owned buffers: the fused
// routing (scores, biased group-limited top-K, renormalised weights, counts)
// and the bias update from the counts. bench/cpu/route_bench.py builds this
// with --moe-lower-to-cpu into a shared library and calls it through the C
// interface on NumPy arrays (no allocation per call).

// (T, 256, 8, 8 groups keep 4): DeepSeek-V3.
func.func @step_e256_g8(%x: memref<?x256xf32>, %b: memref<256xf32>, %w: memref<?x8xf32>,
    %i: memref<?x8xi32>, %c: memref<256xi32>, %nb: memref<256xf32>)
    attributes {llvm.emit_c_interface} {
  moe.buffer.route sigmoid ins(%x : memref<?x256xf32>) bias(%b : memref<256xf32>)
      outs(%w, %i, %c : memref<?x8xf32>, memref<?x8xi32>, memref<256xi32>)
      {k = 8, num_groups = 8, topk_groups = 4, normalize, scale = 2.5 : f32}
  moe.buffer.update_bias sign ins(%b, %c : memref<256xf32>, memref<256xi32>)
      outs(%nb : memref<256xf32>) {rate = 1.0e-03 : f32}
  return
}

// (T, 64, 6, 1 group): the paper's DeepSeekMoE setting.
func.func @step_e64(%x: memref<?x64xf32>, %b: memref<64xf32>, %w: memref<?x6xf32>,
    %i: memref<?x6xi32>, %c: memref<64xi32>, %nb: memref<64xf32>)
    attributes {llvm.emit_c_interface} {
  moe.buffer.route sigmoid ins(%x : memref<?x64xf32>) bias(%b : memref<64xf32>)
      outs(%w, %i, %c : memref<?x6xf32>, memref<?x6xi32>, memref<64xi32>)
      {k = 6, normalize}
  moe.buffer.update_bias sign ins(%b, %c : memref<64xf32>, memref<64xi32>)
      outs(%nb : memref<64xf32>) {rate = 1.0e-03 : f32}
  return
}

// (T, 384, 8, 1 group): Kimi K2.
func.func @step_e384(%x: memref<?x384xf32>, %b: memref<384xf32>, %w: memref<?x8xf32>,
    %i: memref<?x8xi32>, %c: memref<384xi32>, %nb: memref<384xf32>)
    attributes {llvm.emit_c_interface} {
  moe.buffer.route sigmoid ins(%x : memref<?x384xf32>) bias(%b : memref<384xf32>)
      outs(%w, %i, %c : memref<?x8xf32>, memref<?x8xi32>, memref<384xi32>)
      {k = 8, normalize}
  moe.buffer.update_bias sign ins(%b, %c : memref<384xf32>, memref<384xi32>)
      outs(%nb : memref<384xf32>) {rate = 1.0e-03 : f32}
  return
}

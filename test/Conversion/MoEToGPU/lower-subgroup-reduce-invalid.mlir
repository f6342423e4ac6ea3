// RUN: moe-opt %s --pass-pipeline="builtin.module(gpu.module(moe-lower-subgroup-reduce))" --verify-diagnostics

// A 64-bit reduction fits neither redux.sync nor a 32-bit shuffle: a
// diagnostic, not an op left for convert-gpu-to-nvvm to fail on.
gpu.module @kernels {
  gpu.func @wide(%x: i64, %out: memref<1xi64>) kernel {
    %c0 = arith.constant 0 : index
    // expected-error @below {{'gpu.subgroup_reduce' op cannot be lowered to shuffles (32-bit shuffles of a scalar or vector of at most 32-bit elements are supported)}}
    %r = gpu.subgroup_reduce add %x uniform : (i64) -> i64
    memref.store %r, %out[%c0] : memref<1xi64>
    gpu.return
  }
}

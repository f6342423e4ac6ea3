// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_90 features=+ptx80 format=isa" -verify-diagnostics

// A limit of the GPU kernels names the op that the user wrote, at its
// location, after bufferization made it a memref op.

func.func @route_k_too_large(%x: tensor<?x64xf32>) -> tensor<?x33xi32> {
  // expected-error @+2 {{'moe.route' op GPU lowering supports k <= 32, got 33}}
  // expected-error @+1 {{failed to legalize operation 'moe.buffer.route'}}
  %w, %i, %c = moe.route sigmoid %x {k = 33}
      : tensor<?x64xf32> -> tensor<?x33xf32>, tensor<?x33xi32>, tensor<64xi32>
  return %i : tensor<?x33xi32>
}

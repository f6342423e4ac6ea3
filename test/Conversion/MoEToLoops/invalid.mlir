// RUN: moe-opt %s -convert-moe-to-loops -split-input-file -verify-diagnostics
// RUN: not moe-opt %s -convert-moe-to-gpu -split-input-file 2>&1 | FileCheck %s --check-prefix=GPU

// The conversions lower the memref forms of the moe ops: on tensors they say
// how to bufferize first (or which pipeline does it all).

// GPU: error: 'moe.route' works on tensors; --convert-moe-to-gpu lowers bufferized moe ops: run --one-shot-bufferize="bufferize-function-boundaries" first, or use --moe-lower-to-nvvm
// GPU: error: 'moe.imbalance' works on tensors
func.func @tensor_route(%x: tensor<?x16xf32>) -> tensor<?x2xi32> {
  // expected-error @+1 {{'moe.route' works on tensors; --convert-moe-to-loops lowers bufferized moe ops: run --one-shot-bufferize="bufferize-function-boundaries" first, or use --moe-lower-to-cpu}}
  %w, %i, %c = moe.route sigmoid %x {k = 2}
      : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>, tensor<16xi32>
  return %i : tensor<?x2xi32>
}

// -----

func.func @tensor_imbalance(%c: tensor<16xi32>) -> f32 {
  // expected-error @+1 {{'moe.imbalance' works on tensors}}
  %v = moe.imbalance %c : tensor<16xi32> -> f32
  return %v : f32
}

// A ptxas failure is reported with ptxas's message at the kernel's location,
// not with a dump of the kernel module. The toolkit's ptxas here is a test
// double that always fails, so no CUDA is needed.
//
// RUN: rm -rf %t && mkdir -p %t/cuda/bin
// RUN: cp %S/Inputs/fake-ptxas %t/cuda/bin/ptxas
// RUN: not moe-opt %s --moe-lower-to-nvvm="toolkit=%t/cuda" 2>&1 \
// RUN:   | FileCheck %s --implicit-check-not="see current operation" \
// RUN:       --implicit-check-not=gpu.module --implicit-check-not=llvm.func \
// RUN:       --implicit-check-not=nvvm.
//
// CHECK: ptxas-failure.mlir:{{[0-9]+}}:8: error: `ptxas` invocation failed. Log:
// CHECK-NEXT: ptxas fatal   : test double: the kernel does not assemble
// CHECK: error: An error happened while serializing the module.

func.func @counts(%i: tensor<8x2xi32>) -> tensor<16xi32> {
  %c = moe.load %i {num_experts = 16} : tensor<8x2xi32> -> tensor<16xi32>
  return %c : tensor<16xi32>
}

// The moe-lower-to-nvvm pipeline from the stock mlir-opt with
// libMoEPlugin.so: the moe work becomes kernels in an sm_90 cubin (ptxas runs
// in gpu-module-to-binary), the host calls the mgpu* runtime ABI.
// REQUIRES: ptxas
// RUN: mlir-opt %s --load-dialect-plugin=%moe_plugin \
// RUN:   --load-pass-plugin=%moe_plugin \
// RUN:   --pass-pipeline="builtin.module(moe-lower-to-nvvm{chip=sm_90 features=+ptx80 format=bin})" \
// RUN: | FileCheck %s --dump-input=never

// CHECK-NOT: moe.
// CHECK: llvm.call @mgpuStreamCreate
// CHECK: gpu.launch_func
// CHECK: gpu.binary @{{.*}} [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">, {{.*}}bin = "\7FELF
// CHECK-NOT: moe.
func.func @router(%x: tensor<?x64xbf16>, %b: tensor<64xf32>)
    -> (tensor<?x6xf32>, tensor<?x6xi32>, tensor<64xi32>) {
  %s = moe.score sigmoid %x : tensor<?x64xbf16> -> tensor<?x64xf32>
  %w, %i = moe.topk %s bias(%b) {k = 6, num_groups = 8, topk_groups = 4}
      : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x6xf32>, tensor<?x6xi32>
  %wn = moe.normalize %w {scale = 2.5 : f32} : tensor<?x6xf32>
  %c = moe.load %i {num_experts = 64} : tensor<?x6xi32> -> tensor<64xi32>
  return %wn, %i, %c : tensor<?x6xf32>, tensor<?x6xi32>, tensor<64xi32>
}

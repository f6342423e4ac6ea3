// Every example program compiles to sm_90 cubins through ptxas, and to PTX
// (by default PTX 7.8, the version sm_90 needs).
// REQUIRES: ptxas
// RUN: moe-opt %moe_src_root/examples/deepseek_v3_router.mlir --moe-lower-to-nvvm | FileCheck %s --dump-input=never --check-prefix=BIN
// RUN: moe-opt %moe_src_root/examples/deepseek_v3_router.mlir --moe-lower-to-nvvm="format=isa" | FileCheck %s --dump-input=never --check-prefix=PTX
// RUN: moe-opt %moe_src_root/examples/loss_free_balance.mlir --moe-lower-to-nvvm | FileCheck %s --dump-input=never --check-prefix=BIN
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_80 features=+ptx70" | FileCheck %s --dump-input=never --check-prefix=SM80
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_75 features=+ptx70 format=isa" | FileCheck %s --dump-input=never --check-prefix=SM75
// RUN: moe-opt %s --moe-lower-to-nvvm | mlir-translate --mlir-to-llvmir | FileCheck %s --dump-input=never --check-prefix=LLVMIR

// No moe op is left; the host calls the runtime for buffers and streams and
// launches the kernels; each kernel is an ELF cubin.
// BIN-NOT: moe.
// BIN: llvm.call @mgpuStreamCreate
// BIN: llvm.call @mgpuMemAlloc
// BIN: llvm.call @mgpuMemcpy
// BIN: gpu.launch_func
// BIN: gpu.binary @{{.*}} [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx78">, {{.*}}bin = "\7FELF
// BIN-NOT: moe.
// PTX-DAG: #nvvm.target<O = 3, chip = "sm_90", features = "+ptx78">, {{.*}}assembly = "{{.*}}.target sm_90
// The selection kernel's warp arg-max is redux.sync on integer rank images
// (sm_80 and later), butterfly shuffles before that.
// PTX-DAG: redux.sync.max.s32
// PTX-DAG: redux.sync.min.s32
// PTX-DAG: shfl.sync.idx.b32
// SM75-NOT: redux.sync
// SM75: shfl.sync.bfly.b32
// SM75-NOT: redux.sync
// SM80: gpu.binary @{{.*}} [#gpu.object<#nvvm.target<O = 3, chip = "sm_80", features = "+ptx70">, {{.*}}bin = "\7FELF

func.func @all_ops(%x: tensor<?x160xf16>, %b: tensor<160xf32>, %rows: tensor<?x32xbf16>)
    -> (tensor<?x32xbf16>, tensor<160xf32>, f32) {
  %s = moe.score softmax %x : tensor<?x160xf16> -> tensor<?x160xf32>
  %w, %i = moe.topk %s bias(%b) {k = 6, num_groups = 5, topk_groups = 2, group_top = 3}
      : tensor<?x160xf32>, tensor<160xf32> -> tensor<?x6xf32>, tensor<?x6xi32>
  %wn = moe.normalize %w {scale = 2.5 : f32} : tensor<?x6xf32>
  %c = moe.load %i {num_experts = 160} : tensor<?x6xi32> -> tensor<160xi64>
  %b2 = moe.update_bias linear %b, %c {rate = 1.0e-03 : f32, center} : tensor<160xf32>, tensor<160xi64>
  %v = moe.imbalance %c : tensor<160xi64> -> f32
  %o, %t, %sl = moe.dispatch %i {num_experts = 160, block = 16}
      : tensor<?x6xi32> -> tensor<161xi32>, tensor<?xi32>, tensor<?x6xi32>
  %xg = moe.permute %rows, %t : tensor<?x32xbf16>, tensor<?xi32> -> tensor<?x32xbf16>
  %y = moe.combine %xg, %wn, %sl : tensor<?x32xbf16>, tensor<?x6xf32>, tensor<?x6xi32> -> tensor<?x32xbf16>
  return %y, %b2, %v : tensor<?x32xbf16>, tensor<160xf32>, f32
}

// Translated to LLVM IR, the binaries load in a global constructor and the
// launches call the runtime; each kernel's binary is named after its op.
// LLVMIR-DAG: @llvm.global_ctors = {{.*}}@moe_route_kernel_load
// LLVMIR-DAG: call ptr @mgpuModuleGetFunction(
// LLVMIR-DAG: call void @mgpuLaunchKernel(
// LLVMIR-DAG: define internal void @moe_route_kernel_load()
// LLVMIR-DAG: define internal void @moe_dispatch_scan_kernel_load()
// LLVMIR-DAG: call ptr @mgpuModuleLoad(

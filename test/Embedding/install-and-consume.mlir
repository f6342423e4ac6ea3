// `cmake --install` of this build into a fresh prefix, then a downstream
// project (consumer/) configured against that prefix with
// find_package(MoEMLIR), built, and run on this file. Its C++ program
// includes the op header before the pipeline header, registers dialects with
// mlir::moe::registerAllDialects alone, fuses, builds --moe-lower-to-cpu
// without any pass registration, runs --moe-lower-to-nvvm from text and
// translates both results to LLVM IR; its C program does the same through
// the C API alone. The installed moe-opt and plugin must run too.
//
// RUN: rm -rf %t && mkdir -p %t
// RUN: %moe_cmake_command --install %moe_obj_root --prefix %t/prefix > %t/install.log
// RUN: FileCheck %s --check-prefix=INSTALL < %t/install.log
//
// Headers, generated .inc files, libraries, tools and the package.
// INSTALL-DAG: prefix/include/moe/InitAll.h
// INSTALL-DAG: prefix/include/moe/Dialect/MoE/IR/MoEOps.h
// INSTALL-DAG: prefix/include/moe/Dialect/MoE/IR/MoEOps.td
// INSTALL-DAG: prefix/include/moe/Dialect/MoE/IR/MoEOps.h.inc
// INSTALL-DAG: prefix/include/moe/Dialect/MoE/IR/MoEDialect.h.inc
// INSTALL-DAG: prefix/include/moe/Dialect/MoE/Transforms/Passes.h.inc
// INSTALL-DAG: prefix/include/moe/Conversion/Passes.h.inc
// INSTALL-DAG: prefix/include/moe-c/Dialects.h
// INSTALL-DAG: prefix/lib/libMoEDialect.a
// INSTALL-DAG: prefix/lib/libMoETransforms.a
// INSTALL-DAG: prefix/lib/libMoEConversion.a
// INSTALL-DAG: prefix/lib/libMoEPipelines.a
// INSTALL-DAG: prefix/lib/libMoERegistration.a
// INSTALL-DAG: prefix/lib/libMoEPlugin.so
// INSTALL-DAG: prefix/lib/libMoECAPI.so
// INSTALL-DAG: prefix/bin/moe-opt
// INSTALL-DAG: prefix/lib/cmake/MoEMLIR/MoEMLIRConfig.cmake
// INSTALL-DAG: prefix/lib/cmake/MoEMLIR/MoEMLIRConfigVersion.cmake
// INSTALL-DAG: prefix/lib/cmake/MoEMLIR/MoEMLIRTargets.cmake
// RUN: not grep CMakeFiles %t/install.log
//
// RUN: %moe_cmake_command -S %moe_src_root/test/Embedding/consumer \
// RUN:   -B %t/build %moe_cmake_flags -DCMAKE_PREFIX_PATH=%t/prefix \
// RUN:   > %t/configure.log
// RUN: FileCheck %s --check-prefix=CONFIGURE < %t/configure.log
// CONFIGURE: MoEMLIR 0.1.0 in {{.*}}prefix/lib/cmake/MoEMLIR, MLIR in {{.*}}/lib/cmake/mlir
//
// RUN: %moe_cmake_command --build %t/build > %t/build.log
// RUN: %t/build/moe-consumer %s | FileCheck %s --check-prefixes=CHECK,CXX
// RUN: %t/build/moe-consumer-c %s | FileCheck %s --check-prefixes=CHECK,C
//
// The installed moe-opt finds libMLIR.so, and so does the installed plugin
// (through their run paths), with the stock mlir-opt.
// RUN: %t/prefix/bin/moe-opt %s --moe-fuse-routing | FileCheck %s
// RUN: mlir-opt %s --load-dialect-plugin=%t/prefix/lib/libMoEPlugin.so \
// RUN:   --load-pass-plugin=%t/prefix/lib/libMoEPlugin.so \
// RUN:   --pass-pipeline="builtin.module(moe-fuse-routing)" \
// RUN:   | FileCheck %s
// RUN: ldd %t/prefix/lib/libMoEPlugin.so | FileCheck %s --check-prefix=LDD
// RUN: ldd %t/prefix/lib/libMoECAPI.so | FileCheck %s --check-prefix=LDD
// LDD-NOT: not found
// LDD: libMLIR.so.22.1 => {{.*}}/libMLIR.so.22.1
// LDD-NOT: not found

// CHECK-LABEL: func.func @router
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xbf16>, %[[B:.*]]: tensor<64xf32>)
// CHECK-NEXT: %[[W:.*]], %[[I:.*]], %[[C:.*]] = moe.route sigmoid %[[X]] bias(%[[B]]) {k = 6 : i64, normalize, num_groups = 8 : i64, scale = 2.500000e+00 : f32, topk_groups = 4 : i64} : tensor<?x64xbf16>, tensor<64xf32> -> tensor<?x6xf32>, tensor<?x6xi32>, tensor<64xi32>
// CHECK-NEXT: return %[[W]], %[[I]], %[[C]]
func.func @router(%x: tensor<?x64xbf16>, %b: tensor<64xf32>)
    -> (tensor<?x6xf32>, tensor<?x6xi32>, tensor<64xi32>) {
  %s = moe.score sigmoid %x : tensor<?x64xbf16> -> tensor<?x64xf32>
  %w, %i = moe.topk %s bias(%b) {k = 6, num_groups = 8, topk_groups = 4}
      : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x6xf32>, tensor<?x6xi32>
  %wn = moe.normalize %w {scale = 2.5 : f32} : tensor<?x6xf32>
  %c = moe.load %i {num_experts = 64} : tensor<?x6xi32> -> tensor<64xi32>
  return %wn, %i, %c : tensor<?x6xf32>, tensor<?x6xi32>, tensor<64xi32>
}

// After the fused module: the lowerings (the programs' output order).
// CXX: route: k = 6
// CXX-NEXT: cpu:
// CXX-NEXT: define router
// CXX: nvvm:
// CXX-NEXT: define router
// CXX: global moe_route_kernel_binary
// CXX: rejected: --moe-lower-to-nvvm: unknown chip 'sm90': write sm_<major><minor>
// CXX-NEXT: built: no
//
// C: == cpu
// C: llvm.func @router(
// C: == nvvm
// C: llvm.func @router(
// C: gpu.launch_func
// C: gpu.binary @moe_route_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx78">
// C-SAME: .target sm_90

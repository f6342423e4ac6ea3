// The stock mlir-opt of LLVM 22 with libMoEPlugin.so: the dialect plugin
// makes moe ops parse, the pass plugin registers moe-fuse-routing.
//
// RUN: mlir-opt %s --load-dialect-plugin=%moe_plugin \
// RUN:   --load-pass-plugin=%moe_plugin \
// RUN:   --pass-pipeline="builtin.module(moe-fuse-routing)" | FileCheck %s
// RUN: mlir-opt %s --load-dialect-plugin=%moe_plugin \
// RUN:   --load-pass-plugin=%moe_plugin \
// RUN:   -p "builtin.module(func.func(moe-fuse-routing))" | FileCheck %s
//
// Plugin passes are named in a pipeline, not as flags: MlirOptMain builds
// the parser of its pass flags before it loads plugins (LLVM 22). Should a
// later mlir-opt accept the flag, update docs/embedding.md and this line.
// RUN: not mlir-opt %s --load-dialect-plugin=%moe_plugin \
// RUN:   --load-pass-plugin=%moe_plugin --moe-fuse-routing 2>&1 \
// RUN:   | FileCheck %s --check-prefix=FLAG
// FLAG: Unknown command line argument '--moe-fuse-routing'
//
// Without the dialect plugin, the stock mlir-opt does not know moe.
// RUN: not mlir-opt %s 2>&1 | FileCheck %s --check-prefix=NODIALECT
// NODIALECT: Dialect `moe' not found for custom op 'moe.score'
//
// Without the pass plugin, it does not know the pass.
// RUN: not mlir-opt %s --load-dialect-plugin=%moe_plugin \
// RUN:   --pass-pipeline="builtin.module(moe-fuse-routing)" 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NOPASS
// NOPASS: 'moe-fuse-routing' does not refer to a registered pass or pass pipeline
//
// The plugin links libMLIR.so and does not carry MLIR itself.
// RUN: ldd %moe_plugin | FileCheck %s --check-prefix=LDD
// LDD: libMLIR.so.22.1 => {{.*}}/libMLIR.so.22.1
// RUN: llvm-nm -D --defined-only -C %moe_plugin | FileCheck %s --check-prefix=NM
// RUN: llvm-nm -D --defined-only -C %moe_plugin \
// RUN:   | FileCheck %s --check-prefix=NOMLIR
// NM-DAG: mlirGetDialectPluginInfo
// NM-DAG: mlirGetPassPluginInfo
// NOMLIR-NOT: mlir::MLIRContext::MLIRContext(
// NOMLIR-NOT: mlir::PassManager::run(

// CHECK-LABEL: func.func @router
// CHECK-SAME: (%[[X:.*]]: tensor<?x256xbf16>, %[[B:.*]]: tensor<256xf32>)
// CHECK-NEXT: %[[W:.*]], %[[I:.*]], %[[C:.*]] = moe.route sigmoid %[[X]] bias(%[[B]]) {k = 8 : i64, normalize, num_groups = 8 : i64, scale = 2.500000e+00 : f32, topk_groups = 4 : i64} : tensor<?x256xbf16>, tensor<256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>, tensor<256xi32>
// CHECK-NEXT: return %[[W]], %[[I]], %[[C]]
func.func @router(%x: tensor<?x256xbf16>, %b: tensor<256xf32>)
    -> (tensor<?x8xf32>, tensor<?x8xi32>, tensor<256xi32>) {
  %s = moe.score sigmoid %x : tensor<?x256xbf16> -> tensor<?x256xf32>
  %w, %i = moe.topk %s bias(%b) {k = 8, num_groups = 8, topk_groups = 4}
      : tensor<?x256xf32>, tensor<256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  %wn = moe.normalize %w {scale = 2.5 : f32} : tensor<?x8xf32>
  %c = moe.load %i {num_experts = 256} : tensor<?x8xi32> -> tensor<256xi32>
  return %wn, %i, %c : tensor<?x8xf32>, tensor<?x8xi32>, tensor<256xi32>
}

// The scores have another user: the route reads the logits, the score stays.
// CHECK-LABEL: func.func @shared_scores
// CHECK: %[[S:.*]] = moe.score softmax %[[X:.*]] :
// CHECK: %[[W:.*]], %[[I:.*]], %{{.*}} = moe.route softmax %[[X]] {k = 2 : i64}
// CHECK-NOT: moe.topk
// CHECK: return %[[S]], %[[W]], %[[I]]
func.func @shared_scores(%x: tensor<?x16xf32>)
    -> (tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi64>) {
  %s = moe.score softmax %x : tensor<?x16xf32> -> tensor<?x16xf32>
  %w, %i = moe.topk %s {k = 2} : tensor<?x16xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %s, %w, %i : tensor<?x16xf32>, tensor<?x2xf32>, tensor<?x2xi64>
}

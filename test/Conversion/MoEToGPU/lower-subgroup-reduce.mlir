// RUN: moe-opt %s --pass-pipeline="builtin.module(gpu.module(moe-lower-subgroup-reduce,cse))" | FileCheck %s
// RUN: moe-opt %s --pass-pipeline="builtin.module(gpu.module(moe-lower-subgroup-reduce{redux=0},cse))" | FileCheck %s --check-prefix=NOREDUX

// What redux.sync implements stays; the rest becomes xor shuffles.
// CHECK-LABEL: gpu.func @reductions(
// CHECK: gpu.subgroup_reduce maxsi %{{.*}} uniform : (i32) -> i32
// CHECK-NOT: gpu.subgroup_reduce
// CHECK: gpu.shuffle xor %{{.*}}, %c1_i32, %c32_i32 : f32
// CHECK: gpu.shuffle xor %{{.*}}, %c16_i32, %c32_i32 : f32
// CHECK: gpu.shuffle xor %{{.*}}, %c1_i32, %c32_i32 : i32
// CHECK: arith.minui
// CHECK-NOT: gpu.subgroup_reduce
// NOREDUX-LABEL: gpu.func @reductions(
// NOREDUX-NOT: gpu.subgroup_reduce
// NOREDUX: arith.maxsi
// NOREDUX-NOT: gpu.subgroup_reduce
gpu.module @kernels {
  gpu.func @reductions(%i: i32, %f: f32, %out: memref<3xi32>, %fout: memref<1xf32>) kernel {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %a = gpu.subgroup_reduce maxsi %i uniform : (i32) -> i32
    %b = gpu.subgroup_reduce add %f uniform : (f32) -> f32
    %c = gpu.subgroup_reduce minui %i uniform : (i32) -> i32
    memref.store %a, %out[%c0] : memref<3xi32>
    memref.store %c, %out[%c1] : memref<3xi32>
    memref.store %b, %fout[%c0] : memref<1xf32>
    gpu.return
  }
}

// RUN: moe-opt %s -moe-kernel-pointer-args -split-input-file -verify-diagnostics | FileCheck %s

// A kernel's memrefs of dynamic shape, offset or strides become one-element
// memrefs (the aligned pointer, as a bare pointer) and index arguments for
// the dynamic values, appended in order (offset, sizes, strides); the kernel
// rebuilds each memref. Static memrefs stay, and so do the workgroup
// attributions after the arguments.
// CHECK-LABEL: gpu.func @k(
// CHECK-SAME: %[[X:[a-z0-9]+]]: memref<1xbf16>, %[[B:[a-z0-9]+]]: memref<64xf32>, %[[S:[a-z0-9]+]]: memref<1xf32>, %[[N:[a-z0-9]+]]: index,
// CHECK-SAME: %[[T:[a-z0-9]+]]: index, %[[OFF:[a-z0-9]+]]: index, %[[STRIDE:[a-z0-9]+]]: index)
// CHECK-SAME: workgroup(%{{.*}} : memref<64xf32, #gpu.address_space<workgroup>>)
// CHECK: %[[XV:.*]] = memref.reinterpret_cast %[[X]] to offset: [0], sizes: [%[[T]], 64], strides: [64, 1] : memref<1xbf16> to memref<?x64xbf16>
// CHECK: %[[SV:.*]] = memref.reinterpret_cast %[[S]] to offset: [%[[OFF]]], sizes: [8], strides: [%[[STRIDE]]] : memref<1xf32> to memref<8xf32, strided<[?], offset: ?>>
// CHECK: memref.load %[[XV]]
// CHECK: memref.load %[[B]]
// CHECK: memref.load %[[SV]]
// CHECK-LABEL: func.func @host(
// CHECK-SAME: %[[HX:[a-z0-9]+]]: memref<?x64xbf16>, %[[HB:[a-z0-9]+]]: memref<64xf32>, %[[HS:[a-z0-9]+]]: memref<8xf32, strided<[?], offset: ?>>, %[[HN:[a-z0-9]+]]: index)
// CHECK: %{{[a-z0-9_]+}}, %{{[a-z0-9_]+}}, %[[HT:[a-z0-9_]+]]:2, %{{[a-z0-9_]+}}:2 = memref.extract_strided_metadata %[[HX]]
// CHECK: %[[CX:.*]] = memref.reinterpret_cast %[[HX]] to offset: [0], sizes: [1], strides: [1] : memref<?x64xbf16> to memref<1xbf16>
// CHECK: %{{[a-z0-9_]+}}, %[[HOFF:[a-z0-9_]+]], %{{[a-z0-9_]+}}, %[[HSTRIDE:[a-z0-9_]+]] = memref.extract_strided_metadata %[[HS]]
// CHECK: %[[CS:.*]] = memref.reinterpret_cast %[[HS]] to offset: [0], sizes: [1], strides: [1] : memref<8xf32, strided<[?], offset: ?>> to memref<1xf32>
// CHECK: gpu.launch_func @kernels::@k {{.*}} args(%[[CX]] : memref<1xbf16>, %[[HB]] : memref<64xf32>, %[[CS]] : memref<1xf32>, %[[HN]] : index, %[[HT]]#0 : index, %[[HOFF]] : index, %[[HSTRIDE]] : index)
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%x: memref<?x64xbf16>, %b: memref<64xf32>, %s: memref<8xf32, strided<[?], offset: ?>>, %n: index)
        workgroup(%w : memref<64xf32, #gpu.address_space<workgroup>>) kernel {
      %c0 = arith.constant 0 : index
      %v = memref.load %x[%n, %c0] : memref<?x64xbf16>
      %e = arith.extf %v : bf16 to f32
      %bv = memref.load %b[%c0] : memref<64xf32>
      %sv = memref.load %s[%c0] : memref<8xf32, strided<[?], offset: ?>>
      %sum = arith.addf %e, %bv : f32
      %all = arith.addf %sum, %sv : f32
      memref.store %all, %w[%c0] : memref<64xf32, #gpu.address_space<workgroup>>
      gpu.return
    }
  }
  func.func @host(%x: memref<?x64xbf16>, %b: memref<64xf32>, %s: memref<8xf32, strided<[?], offset: ?>>, %n: index) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
        args(%x : memref<?x64xbf16>, %b : memref<64xf32>, %s : memref<8xf32, strided<[?], offset: ?>>, %n : index)
    return
  }
}

// -----

// A layout that is not strided has no pointer-and-sizes form.
module attributes {gpu.container_module} {
  gpu.module @kernels {
    // expected-error @+1 {{kernel argument 0 has a non-strided layout}}
    gpu.func @k(%x: memref<4x4xf32, affine_map<(d0, d1) -> (d1, d0)>>) kernel {
      gpu.return
    }
  }
  func.func @host(%x: memref<4x4xf32, affine_map<(d0, d1) -> (d1, d0)>>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
        args(%x : memref<4x4xf32, affine_map<(d0, d1) -> (d1, d0)>>)
    return
  }
}

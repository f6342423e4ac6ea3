// How the CPU selection gathers its candidates: forced by the option, or
// from the target the code is built for (function target_features or
// target_cpu, else the module's llvm.target; the host only when none says).
// RUN: moe-opt %s -convert-moe-to-loops="selection=scan" -canonicalize -cse -split-input-file | FileCheck %s --check-prefixes=COMMON,SCAN
// RUN: moe-opt %s -convert-moe-to-loops="selection=compress" -canonicalize -cse -split-input-file | FileCheck %s --check-prefixes=COMMON,COMPRESS
// RUN: moe-opt %s -convert-moe-to-loops -canonicalize -cse -split-input-file | FileCheck %s --check-prefix=AUTO
// RUN: moe-opt %s --moe-lower-to-cpu="selection=scan" -split-input-file | FileCheck %s --check-prefix=LLVM-SCAN
// The target-cpu option comes before the IR's attributes.
// RUN: moe-opt %s -convert-moe-to-loops="target-cpu=x86-64" -split-input-file | FileCheck %s --check-prefix=GENERIC --implicit-check-not=vector.compressstore
// RUN: moe-opt %s -convert-moe-to-loops="target-cpu=znver4" -split-input-file | FileCheck %s --check-prefix=ZNVER4 --implicit-check-not=scf.while
// GENERIC: scf.while
// ZNVER4: vector.compressstore

// Scan: the row's images at or above the threshold as the bits of a mask,
// 64 experts at a time, then one scalar store of the image and of the id
// per set bit. More than 16 candidates: the same over the packed
// candidates, 16 lanes at a time, before the ranks.
// COMMON-LABEL: func.func @forced(
// The column maxima: lane l of chunk c joins column l xor (5c mod 16).
// COMMON: %[[C0:.*]] = vector.load %{{.*}}[%c0] : memref<144xi32>, vector<16xi32>
// COMMON: %[[C1:.*]] = vector.load %{{.*}}[%c16] : memref<144xi32>, vector<16xi32>
// COMMON: %[[X1:.*]] = vector.shuffle %[[C1]], %[[C1]] [5, 4, 7, 6, 1, 0, 3, 2, 13, 12, 15, 14, 9, 8, 11, 10]
// COMMON: %[[M1:.*]] = arith.maxsi %{{.*}}, %[[X1]] : vector<16xi32>
// COMMON: %[[C2:.*]] = vector.load %{{.*}}[%c32] : memref<144xi32>, vector<16xi32>
// COMMON: %[[X2:.*]] = vector.shuffle %[[C2]], %[[C2]] [10, 11, 8, 9, 14, 15, 12, 13, 2, 3, 0, 1, 6, 7, 4, 5]
// COMMON: arith.maxsi %[[M1]], %[[X2]] : vector<16xi32>
// COMMON: %[[TAU:.*]] = arith.maxsi %{{.*}}, %c-2147483647_i32 : i32
// SCAN-NOT: vector.compressstore
// SCAN: scf.for %[[FIRST:.*]] = %c0 to %c128 step %c64 iter_args(%[[N:.*]] = %c0)
// SCAN: %[[V:.*]] = vector.load %{{.*}}[%[[FIRST]]] : memref<144xi32>, vector<64xi32>
// SCAN: %[[KEEP:.*]] = arith.cmpi sge, %[[V]], %{{.*}} : vector<64xi32>
// SCAN: %[[MASK:.*]] = vector.bitcast %[[KEEP]] : vector<64xi1> to vector<1xi64>
// SCAN: %[[BITS:.*]] = vector.extract %[[MASK]][0] : i64 from vector<1xi64>
// SCAN: scf.while (%[[B:.*]] = %[[BITS]], %[[C:.*]] = %[[N]]) : (i64, index)
// SCAN: arith.cmpi ne, %[[B]], %c0_i64 : i64
// SCAN: math.cttz
// SCAN: memref.store %{{.*}}, %{{.*}}[%{{.*}}] : memref<144xi32>
// SCAN: memref.store %{{.*}}, %{{.*}}[%{{.*}}] : memref<144xi32>
// SCAN: arith.subi %{{.*}}, %c1_i64 : i64
// SCAN: arith.andi
// The tail of the row past the last 64 experts: one 16-lane chunk.
// SCAN: vector.load %{{.*}}[%c128] : memref<144xi32>, vector<16xi32>
// SCAN: vector.bitcast %{{.*}} : vector<16xi1> to vector<1xi16>
// SCAN: arith.extui %{{.*}} : i16 to i64
// SCAN: scf.while
// COMPRESS: vector.compressstore %{{.*}}[%{{.*}}], %{{.*}}, %{{.*}} : memref<144xi32>, vector<16xi1>, vector<16xi32>
// COMPRESS: vector.compressstore %{{.*}}[%{{.*}}], %{{.*}}, %{{.*}} : memref<144xi32>, vector<16xi1>, vector<16xi32>
// The refinement when more than 16 candidates were gathered.
// COMMON: %[[TOOMANY:.*]] = arith.cmpi ugt, %{{.*}}, %c16 : index
// COMMON: scf.if %[[TOOMANY]] -> (index)
// COMMON: vector.reduction <minsi>
// SCAN: scf.while
// COMPRESS: vector.compressstore
// AUTO-LABEL: func.func @forced(
// LLVM-SCAN-LABEL: llvm.func @forced(
// LLVM-SCAN-NOT: llvm.intr.masked.compressstore
// LLVM-SCAN: llvm.intr.cttz
// LLVM-SCAN: llvm.return
func.func @forced(%x: memref<?x130xf32>, %b: memref<130xf32>,
    %w: memref<?x8xf32>, %i: memref<?x8xi32>) {
  moe.buffer.topk ins(%x : memref<?x130xf32>) bias(%b : memref<130xf32>)
      outs(%w, %i : memref<?x8xf32>, memref<?x8xi32>) {k = 8}
  return
}

// -----

// The module is built for an AVX2 CPU: scan, whatever the host.
// AUTO-LABEL: func.func @avx2_module(
// AUTO-NOT: vector.compressstore
// AUTO: scf.while
module attributes {llvm.target = #llvm.target<triple = "x86_64-unknown-linux-gnu", chip = "x86-64-v3">} {
  func.func @avx2_module(%x: memref<?x64xf32>, %w: memref<?x4xf32>,
      %i: memref<?x4xi32>) {
    moe.buffer.topk ins(%x : memref<?x64xf32>) outs(%w, %i : memref<?x4xf32>, memref<?x4xi32>) {k = 4}
    return
  }
}

// -----

// An AVX-512 CPU: compress-stores.
// AUTO-LABEL: func.func @avx512_module(
// AUTO: vector.compressstore
module attributes {llvm.target = #llvm.target<triple = "x86_64-unknown-linux-gnu", chip = "znver4">} {
  func.func @avx512_module(%x: memref<?x64xf32>, %w: memref<?x4xf32>,
      %i: memref<?x4xi32>) {
    moe.buffer.topk ins(%x : memref<?x64xf32>) outs(%w, %i : memref<?x4xf32>, memref<?x4xi32>) {k = 4}
    return
  }
}

// -----

// The features name the chip's AVX-512F off.
// AUTO-LABEL: func.func @avx512_off(
// AUTO-NOT: vector.compressstore
// AUTO: scf.while
module attributes {llvm.target = #llvm.target<triple = "x86_64-unknown-linux-gnu", chip = "znver4", features = #llvm.target_features<["-avx512f"]>>} {
  func.func @avx512_off(%x: memref<?x64xf32>, %w: memref<?x4xf32>,
      %i: memref<?x4xi32>) {
    moe.buffer.topk ins(%x : memref<?x64xf32>) outs(%w, %i : memref<?x4xf32>, memref<?x4xi32>) {k = 4}
    return
  }
}

// -----

// AArch64: no AVX-512, scan.
// AUTO-LABEL: func.func @aarch64_module(
// AUTO-NOT: vector.compressstore
// AUTO: scf.while
module attributes {llvm.target = #llvm.target<triple = "aarch64-unknown-linux-gnu", chip = "neoverse-v2">} {
  func.func @aarch64_module(%x: memref<?x64xf32>, %w: memref<?x4xf32>,
      %i: memref<?x4xi32>) {
    moe.buffer.topk ins(%x : memref<?x64xf32>) outs(%w, %i : memref<?x4xf32>, memref<?x4xi32>) {k = 4}
    return
  }
}

// -----

// The function's features come before the module's target.
// AUTO-LABEL: func.func @function_features(
// AUTO: vector.compressstore
// AUTO-LABEL: func.func @function_cpu(
// AUTO-NOT: vector.compressstore
// AUTO: scf.while
module attributes {llvm.target = #llvm.target<triple = "x86_64-unknown-linux-gnu", chip = "x86-64">} {
  func.func @function_features(%x: memref<?x64xf32>, %w: memref<?x4xf32>,
      %i: memref<?x4xi32>) attributes {target_features = #llvm.target_features<["+avx512f"]>} {
    moe.buffer.topk ins(%x : memref<?x64xf32>) outs(%w, %i : memref<?x4xf32>, memref<?x4xi32>) {k = 4}
    return
  }
  func.func @function_cpu(%x: memref<?x64xf32>, %w: memref<?x4xf32>,
      %i: memref<?x4xi32>) attributes {target_cpu = "haswell"} {
    moe.buffer.topk ins(%x : memref<?x64xf32>) outs(%w, %i : memref<?x4xf32>, memref<?x4xi32>) {k = 4}
    return
  }
}

// RUN: moe-opt %s -convert-moe-to-loops -canonicalize -cse -split-input-file | FileCheck %s

// Top-K: two tokens per iteration of the token loop. Each token's keys
// (score + bias) and scores go to [E] stack buffers in vector chunks; the
// keys become integer rank images (-0 as +0, NaN just below -inf); the K-th
// best of the lane maxima (ranks by lane rotations) is a threshold; the
// experts at or above it are compress-stored with their ids; their ranks
// (ties by lower lane) give the winners, the unbiased score their weight.
// CHECK-LABEL: func.func @topk(
// CHECK-SAME: %[[S:[a-z0-9]+]]: memref<?x16xf32>, %[[B:[a-z0-9]+]]: memref<16xf32>, %[[W:[a-z0-9]+]]: memref<?x2xf32>, %[[I:[a-z0-9]+]]: memref<?x2xi32>)
// CHECK-DAG: %[[NAN:.*]] = arith.constant dense<-2147483647> : vector<16xi32>
// CHECK-DAG: %[[KEYS:.*]] = memref.alloca() : memref<16xf32>
// CHECK-DAG: %[[SCORES:.*]] = memref.alloca() : memref<16xf32>
// CHECK-DAG: %[[IMAGES:.*]] = memref.alloca() : memref<16xi32>
// CHECK-DAG: %[[IDS:.*]] = memref.alloca() : memref<2xindex>
// CHECK-DAG: %[[VALS:.*]] = memref.alloca() : memref<2xf32>
// CHECK-NOT: memref.alloc(
// CHECK: scf.for %[[T:.*]] = %{{.*}} to %{{.*}} step %c2
// CHECK: %[[SV:.*]] = vector.load %[[S]][%[[T]], %{{.*}}] : memref<?x16xf32>, vector<16xf32>
// CHECK: vector.store %[[SV]], %[[SCORES]]
// CHECK: %[[BV:.*]] = vector.load %[[B]]
// CHECK: %[[KV:.*]] = arith.addf %[[SV]], %[[BV]] : vector<16xf32>
// CHECK: vector.store %[[KV]], %[[KEYS]]
// CHECK: arith.bitcast %{{.*}} : vector<16xf32> to vector<16xi32>
// CHECK: arith.cmpf uno
// CHECK: arith.select %{{.*}}, %[[NAN]], %{{.*}} : vector<16xi1>, vector<16xi32>
// CHECK: vector.store %{{.*}}, %[[IMAGES]]
// CHECK: vector.shuffle
// CHECK: arith.cmpi sgt
// CHECK: %[[TAU:.*]] = vector.reduction <minsi>
// CHECK: arith.maxsi %[[TAU]], %c-2147483647_i32 : i32
// CHECK: %[[KEEP:.*]] = arith.cmpi sge
// CHECK: vector.compressstore %{{.*}}, %[[KEEP]], %{{.*}} : memref<16xi32>, vector<16xi1>, vector<16xi32>
// CHECK: vector.compressstore %{{.*}}, %[[KEEP]], %{{.*}} : memref<16xi32>, vector<16xi1>, vector<16xi32>
// CHECK: math.ctpop
// The second token's phases come before the first token's ranks.
// CHECK: vector.compressstore
// CHECK: scf.if
// CHECK: math.cttz
// CHECK: %[[E:.*]] = arith.index_cast %{{.*}} : i32 to index
// CHECK: memref.store %[[E]], %[[IDS]]
// CHECK: %[[SC:.*]] = memref.load %[[SCORES]][%[[E]]]
// CHECK: memref.store %[[SC]], %[[VALS]]
// More candidates than lanes (ties): K rounds of the arg-max.
// CHECK: vector.reduction <maxsi>
// CHECK: vector.reduction <minsi>
// CHECK: %[[WV:.*]] = vector.load %[[VALS]][%{{.*}}] : memref<2xf32>, vector<2xf32>
// CHECK: vector.store %[[WV]], %[[W]][%[[T]], %{{.*}}] : memref<?x2xf32>, vector<2xf32>
// CHECK: arith.index_cast %{{.*}} : vector<2xindex> to vector<2xi32>
// A last odd token alone.
// CHECK: scf.for
func.func @topk(%s: memref<?x16xf32>, %b: memref<16xf32>, %w: memref<?x2xf32>, %i: memref<?x2xi32>) {
  moe.buffer.topk ins(%s : memref<?x16xf32>) bias(%b : memref<16xf32>)
      outs(%w, %i : memref<?x2xf32>, memref<?x2xi32>) {k = 2}
  return
}

// -----

// Group-limited selection: per group, its keys as one vector (NaN as -inf)
// and group_top max reductions; the kept groups from the ranks of the group
// scores, as a bit mask; the experts of the other groups removed per chunk
// by a lane shift of that mask.
// CHECK-LABEL: func.func @topk_groups(
// CHECK-DAG: %[[NEGINF:.*]] = arith.constant dense<0xFF800000> : vector<4xf32>
// CHECK-DAG: %[[GS:.*]] = memref.alloca() : memref<16xf32>
// CHECK: arith.cmpf uno, %{{.*}} : vector<4xf32>
// CHECK: arith.select %{{.*}}, %[[NEGINF]], %{{.*}} : vector<4xi1>, vector<4xf32>
// CHECK: vector.reduction <maxnumf>, %{{.*}} fastmath<nnan> : vector<4xf32> into f32
// CHECK: math.cttz
// CHECK: vector.reduction <maxnumf>
// CHECK: memref.store %{{.*}}, %[[GS]]
// CHECK: vector.load %[[GS]]
// CHECK: %[[KEPT:.*]] = vector.bitcast %{{.*}} : vector<16xi1> to vector<1xi16>
// CHECK: arith.shrui
// CHECK: arith.select %{{.*}}, %{{.*}}, %{{.*}} : vector<16xi1>, vector<16xi32>
func.func @topk_groups(%s: memref<?x16xf32>, %w: memref<?x2xf32>, %i: memref<?x2xi64>) {
  moe.buffer.topk ins(%s : memref<?x16xf32>)
      outs(%w, %i : memref<?x2xf32>, memref<?x2xi64>) {k = 2, num_groups = 4, topk_groups = 2}
  return
}

// -----

// Load: padding tokens (mask false) and indices outside [0, E) are skipped.
// CHECK-LABEL: func.func @load(
// CHECK-SAME: %[[I:[a-z0-9]+]]: memref<?x2xi64>, %[[M:[a-z0-9]+]]: memref<?xi1>, %[[C:[a-z0-9]+]]: memref<16xi32>)
// CHECK: memref.store %c0_i32, %[[C]]
// CHECK: %[[VALID:.*]] = memref.load %[[M]]
// CHECK: scf.if %[[VALID]]
// CHECK: %[[E:.*]] = memref.load %[[I]]
// CHECK: %[[GE:.*]] = arith.cmpi sge, %[[E]], %c0_i64 : i64
// CHECK: %[[LT:.*]] = arith.cmpi slt, %[[E]], %c16_i64 : i64
// CHECK: %[[IN:.*]] = arith.andi %[[GE]], %[[LT]]
// CHECK: scf.if %[[IN]]
// CHECK: arith.addi %{{.*}}, %c1_i32 : i32
func.func @load(%i: memref<?x2xi64>, %m: memref<?xi1>, %c: memref<16xi32>) {
  moe.buffer.load ins(%i : memref<?x2xi64>) mask(%m : memref<?xi1>)
      outs(%c : memref<16xi32>) {num_experts = 16}
  return
}

// -----

// Sign rule with centring: mean from the exact integer sum, two passes over
// the deltas (their mean, then the update).
// CHECK-LABEL: func.func @update_bias(
// CHECK: arith.extsi %{{.*}} : i32 to i64
// CHECK: arith.sitofp %{{.*}} : i64 to f32
// CHECK: arith.divf
// CHECK: arith.cmpf ogt
// CHECK: arith.cmpf olt
// CHECK: scf.for
// CHECK: arith.subf
// CHECK: arith.addf
// CHECK: memref.store
func.func @update_bias(%b: memref<8xf32>, %c: memref<8xi32>) {
  moe.buffer.update_bias sign ins(%b, %c : memref<8xf32>, memref<8xi32>)
      outs(%b : memref<8xf32>) {rate = 1.0e-03 : f32, center}
  return
}

// -----

// Dispatch: counts, block-padded offsets, every row -1 first, then rows in
// ascending (t, j); a row is written only below its expert's kept end and the
// buffer's size.
// CHECK-LABEL: func.func @dispatch(
// CHECK-SAME: %[[I:[a-z0-9]+]]: memref<?x2xi32>, %[[O:[a-z0-9]+]]: memref<5xi32>, %[[TI:[a-z0-9]+]]: memref<?xi32>, %[[SL:[a-z0-9]+]]: memref<?x2xi32>)
// CHECK-DAG: %[[NEXT:.*]] = memref.alloca() : memref<4xindex>
// CHECK-DAG: %[[END:.*]] = memref.alloca() : memref<4xindex>
// CHECK: arith.ceildivui
// CHECK: memref.store %c-1_i32, %[[TI]]
// CHECK: %[[ROW:.*]] = memref.load %[[NEXT]]
// CHECK-DAG: arith.cmpi ult, %[[ROW]], %{{.*}} : index
// CHECK-DAG: %[[LIMIT:.*]] = memref.load %[[END]]
// CHECK: arith.cmpi ult, %[[ROW]], %[[LIMIT]]
// CHECK: memref.store %{{.*}}, %[[SL]]
// CHECK: scf.if
// CHECK: memref.store %{{.*}}, %[[TI]][%[[ROW]]]
// CHECK: } else {
// CHECK: memref.store %c-1_i32, %[[SL]]
func.func @dispatch(%i: memref<?x2xi32>, %o: memref<5xi32>, %t: memref<?xi32>, %s: memref<?x2xi32>) {
  moe.buffer.dispatch ins(%i : memref<?x2xi32>)
      outs(%o, %t, %s : memref<5xi32>, memref<?xi32>, memref<?x2xi32>) {num_experts = 4, block = 2}
  return
}

// -----

// Combine accumulates in f32 and rounds once to the row type.
// CHECK-LABEL: func.func @combine(
// CHECK: scf.for {{.*}} iter_args(%[[ACC:.*]] = %cst) -> (f32)
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: arith.mulf
// CHECK: arith.addf %[[ACC]]
// CHECK: arith.truncf %{{.*}} : f32 to bf16
func.func @combine(%y: memref<?x8xbf16>, %w: memref<?x2xf32>, %s: memref<?x2xi32>, %o: memref<?x8xbf16>) {
  moe.buffer.combine ins(%y, %w, %s : memref<?x8xbf16>, memref<?x2xf32>, memref<?x2xi32>)
      outs(%o : memref<?x8xbf16>)
  return
}

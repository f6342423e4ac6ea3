// RUN: moe-opt %s -convert-moe-to-loops="selection=compress" -canonicalize -cse -split-input-file | FileCheck %s

// Top-K: two tokens per iteration of the token loop. Each token's keys
// (score + bias) and scores go to [E] stack buffers in vector chunks; the
// keys become integer rank images (-0 as +0, NaN just below -inf); the K-th
// best of the lane maxima (ranks by lane permutations) is a threshold; the
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

// Dispatch: per-expert counts, block-padded offsets from one scan, every row
// and slot -1 first, then the pairs in ascending (t, j) take their expert's
// rows; a row is written only below its expert's kept end and the buffer's
// size.
// CHECK-LABEL: func.func @dispatch(
// CHECK-SAME: %[[I:[a-z0-9]+]]: memref<?x2xi32>, %[[O:[a-z0-9]+]]: memref<5xi32>, %[[TI:[a-z0-9]+]]: memref<?xi32>, %[[SL:[a-z0-9]+]]: memref<?x2xi32>)
// CHECK-DAG: %[[NEXT:.*]] = memref.alloca() : memref<4xi64>
// CHECK-DAG: %[[END:.*]] = memref.alloca() : memref<4xi64>
// CHECK: %[[T:.*]] = memref.dim %[[I]], %c0
// CHECK: memref.store %c0_i64, %[[END]]
// CHECK: scf.for %[[CT:.*]] = %c0 to %[[T]]
// CHECK: memref.load %[[I]][%[[CT]],
// CHECK: %[[COUNT:.*]] = memref.load %[[END]]
// CHECK: arith.addi %[[COUNT]], %c1_i64
// CHECK: memref.store %c0_i32, %[[O]][%c0]
// CHECK: scf.for %[[E:.*]] = %c0 to %c4 step %c1 iter_args(%[[START:.*]] = %c0_i64)
// CHECK: %[[KEPT:.*]] = memref.load %[[END]][%[[E]]]
// CHECK: %[[BLOCKS:.*]] = arith.ceildivui %[[KEPT]], %c2_i64
// CHECK: %[[PADDED:.*]] = arith.muli %[[BLOCKS]], %c2_i64
// CHECK: %[[SEGEND:.*]] = arith.addi %[[START]], %[[PADDED]]
// CHECK: memref.store %[[START]], %[[NEXT]][%[[E]]]
// CHECK: %[[OFF:.*]] = arith.trunci %[[SEGEND]] : i64 to i32
// CHECK: %[[E1:.*]] = arith.addi %[[E]], %c1
// CHECK: memref.store %[[OFF]], %[[O]][%[[E1]]]
// CHECK: memref.store %c-1_i32, %[[TI]]
// CHECK: memref.store %c-1_i32, %[[SL]]
// CHECK: %[[ROW:.*]] = memref.load %[[NEXT]]
// CHECK: %[[INBUF:.*]] = arith.cmpi ult, %[[ROW]], %{{.*}} : i64
// CHECK: %[[LIMIT:.*]] = memref.load %[[END]]
// CHECK: %[[INSEG:.*]] = arith.cmpi ult, %[[ROW]], %[[LIMIT]]
// CHECK: %[[KEEP:.*]] = arith.andi %[[INSEG]], %[[INBUF]]
// CHECK: scf.if %[[KEEP]]
// CHECK: %[[R:.*]] = arith.index_cast %[[ROW]] : i64 to index
// CHECK: memref.store %{{.*}}, %[[TI]][%[[R]]]
// CHECK: memref.store %{{.*}}, %[[SL]]
// CHECK: arith.addi %[[ROW]], %c1_i64
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

// -----

// Scores: softmax reads the row (bf16, widened in vector chunks and a scalar
// tail) into a stack buffer, then its max and sum (lane accumulators over
// the chunks, here one chunk, a reduction, then the scalar tail); the sum's
// pass stores exp(x - max) in place of x, and the scores divide it by the
// sum: one exp per logit.
// CHECK-LABEL: func.func @score(
// CHECK-SAME: %[[X:[a-z0-9]+]]: memref<?x20xbf16>, %[[S:[a-z0-9]+]]: memref<?x20xf32>)
// CHECK: %[[ROW:.*]] = memref.alloca() : memref<20xf32>
// CHECK: scf.for %[[T:.*]] = %c0 to
// CHECK: %[[XV:.*]] = vector.load %[[X]][%[[T]], %c0] : memref<?x20xbf16>, vector<16xbf16>
// CHECK: arith.extf %[[XV]] : vector<16xbf16> to vector<16xf32>
// CHECK: scf.for %[[TAIL:.*]] = %c16 to %c20
// CHECK: memref.load %[[X]][%[[T]], %[[TAIL]]]
// CHECK: %[[CHUNK:.*]] = vector.load %[[ROW]][%c0] : memref<20xf32>, vector<16xf32>
// CHECK: %[[LANEMAX:.*]] = vector.reduction <maximumf>, %[[CHUNK]] fastmath<reassoc> : vector<16xf32> into f32
// CHECK: %[[MAX:.*]] = scf.for %{{.*}} = %c16 to %c20 step %c1 iter_args(%[[M:.*]] = %[[LANEMAX]]) -> (f32)
// CHECK: arith.maximumf %[[M]]
// CHECK: vector.store %[[EXP:.*]], %[[ROW]][%c0] : memref<20xf32>, vector<16xf32>
// CHECK: %[[PART:.*]] = arith.addf %[[EXP]], %{{.*}} : vector<16xf32>
// CHECK: %[[LANESUM:.*]] = vector.reduction <add>, %[[PART]] fastmath<reassoc> : vector<16xf32> into f32
// CHECK: %[[SUM:.*]] = scf.for %{{.*}} = %c16 to %c20 step %c1 iter_args(%{{.*}} = %[[LANESUM]]) -> (f32)
// CHECK: memref.store %{{.*}}, %[[ROW]][%{{.*}}] : memref<20xf32>
// CHECK-DAG: %[[SUMV:.*]] = vector.broadcast %[[SUM]] : f32 to vector<16xf32>
// CHECK-DAG: %[[EXPS:.*]] = vector.load %[[ROW]][%c0] : memref<20xf32>, vector<16xf32>
// CHECK: arith.divf %[[EXPS]], %[[SUMV]] : vector<16xf32>
// CHECK: arith.divf %{{.*}}, %[[SUM]] : f32
// CHECK: memref.store %{{.*}}, %[[S]][%[[T]], %{{.*}}]
func.func @score(%x: memref<?x20xbf16>, %s: memref<?x20xf32>) {
  moe.buffer.score softmax ins(%x : memref<?x20xbf16>) outs(%s : memref<?x20xf32>)
  return
}

// -----

// Route: counts zeroed, then the selection loop of topk, with the weights
// renormalised and scaled as a vector, the indices widened to i64 and each
// winner counted.
// CHECK-LABEL: func.func @route(
// CHECK-SAME: %[[X:[a-z0-9]+]]: memref<?x16xf32>, %[[W:[a-z0-9]+]]: memref<?x2xf32>, %[[I:[a-z0-9]+]]: memref<?x2xi64>, %[[C:[a-z0-9]+]]: memref<16xi32>)
// CHECK-DAG: %[[SCALE:.*]] = arith.constant dense<2.500000e+00> : vector<2xf32>
// CHECK-DAG: %[[IDS:.*]] = memref.alloca() : memref<2xindex>
// CHECK-DAG: %[[VALS:.*]] = memref.alloca() : memref<2xf32>
// CHECK: memref.store %c0_i32, %[[C]]
// CHECK: scf.for %[[T:.*]] = %c0 to %{{.*}} step %c2
// CHECK: vector.load %[[X]][%[[T]], %c0]
// CHECK: vector.compressstore
// CHECK: %[[WV:.*]] = vector.load %[[VALS]][%c0] : memref<2xf32>, vector<2xf32>
// CHECK: %[[SUMV:.*]] = vector.broadcast %{{.*}} : f32 to vector<2xf32>
// CHECK: %[[ZERO:.*]] = arith.cmpf oeq, %[[SUMV]]
// CHECK: %[[SCALED:.*]] = arith.mulf %[[WV]], %[[SCALE]]
// CHECK: %[[NORM:.*]] = arith.divf %[[SCALED]], %[[SUMV]]
// CHECK: %[[WN:.*]] = arith.select %[[ZERO]], %{{.*}}, %[[NORM]]
// CHECK: vector.store %[[WN]], %[[W]][%{{.*}}, %c0]
// CHECK: %[[IV:.*]] = vector.load %[[IDS]][%c0] : memref<2xindex>, vector<2xindex>
// CHECK: %[[IW:.*]] = arith.index_cast %[[IV]] : vector<2xindex> to vector<2xi64>
// CHECK: vector.store %[[IW]], %[[I]]
// CHECK: %[[WINNER:.*]] = memref.load %[[IDS]]
// CHECK: %[[N:.*]] = memref.load %[[C]][%[[WINNER]]]
// CHECK: %[[N1:.*]] = arith.addi %[[N]], %c1_i32
// CHECK: memref.store %[[N1]], %[[C]][%[[WINNER]]]
func.func @route(%x: memref<?x16xf32>, %w: memref<?x2xf32>, %i: memref<?x2xi64>, %c: memref<16xi32>) {
  moe.buffer.route sigmoid ins(%x : memref<?x16xf32>)
      outs(%w, %i, %c : memref<?x2xf32>, memref<?x2xi64>, memref<16xi32>) {k = 2, normalize, scale = 2.5 : f32}
  return
}

// -----

// Normalize: the row sum, then scale * w / sum, 0 for a zero sum.
// CHECK-LABEL: func.func @normalize(
// CHECK-SAME: %[[W:[a-z0-9]+]]: memref<?x4xf32>, %[[O:[a-z0-9]+]]: memref<?x4xf32>)
// CHECK: scf.for %[[T:.*]] = %c0 to
// CHECK: %[[SUM:.*]] = scf.for %[[J:.*]] = %c0 to %c4 step %c1 iter_args(%[[ACC:.*]] = %[[ZERO:.*]]) -> (f32)
// CHECK: %[[X:.*]] = memref.load %[[W]][%[[T]], %[[J]]]
// CHECK: arith.addf %[[ACC]], %[[X]]
// CHECK: scf.for %[[J2:.*]] = %c0 to %c4
// CHECK: %[[Y:.*]] = memref.load %[[W]][%[[T]], %[[J2]]]
// CHECK: %[[EMPTY:.*]] = arith.cmpf oeq, %[[SUM]], %[[ZERO]]
// CHECK: %[[SC:.*]] = arith.mulf %[[Y]], %{{.*}}
// CHECK: %[[Q:.*]] = arith.divf %[[SC]], %[[SUM]]
// CHECK: %[[R:.*]] = arith.select %[[EMPTY]], %[[ZERO]], %[[Q]]
// CHECK: memref.store %[[R]], %[[O]][%[[T]], %[[J2]]]
func.func @normalize(%w: memref<?x4xf32>, %o: memref<?x4xf32>) {
  moe.buffer.normalize ins(%w : memref<?x4xf32>) outs(%o : memref<?x4xf32>) {scale = 2.5 : f32}
  return
}

// -----

// Imbalance: the exact i64 sum and the f32 max in one pass, then
// (max - mean) / mean, 0 for an empty load.
// CHECK-LABEL: func.func @imbalance(
// CHECK-SAME: %[[C:[a-z0-9]+]]: memref<16xi64>) -> f32
// CHECK: %[[SM:.*]]:2 = scf.for %[[E:.*]] = %c0 to %c16 step %c1 iter_args(%[[SUM:.*]] = %c0_i64, %[[MAX:.*]] = %{{.*}}) -> (i64, f32)
// CHECK: %[[N:.*]] = memref.load %[[C]][%[[E]]]
// CHECK: arith.addi %[[SUM]], %[[N]] : i64
// CHECK: arith.maximumf %[[MAX]]
// CHECK: %[[SUMF:.*]] = arith.sitofp %[[SM]]#0 : i64 to f32
// CHECK: %[[MEAN:.*]] = arith.divf %[[SUMF]], %{{.*}}
// CHECK: %[[DIFF:.*]] = arith.subf %[[SM]]#1, %[[MEAN]]
// CHECK: %[[VIO:.*]] = arith.divf %[[DIFF]], %[[MEAN]]
// CHECK: %[[EMPTY:.*]] = arith.cmpi eq, %[[SM]]#0, %c0_i64
// CHECK: %[[R:.*]] = arith.select %[[EMPTY]], %{{.*}}, %[[VIO]]
// CHECK: return
func.func @imbalance(%c: memref<16xi64>) -> f32 {
  %v = moe.buffer.imbalance ins(%c : memref<16xi64>) -> f32
  return %v : f32
}

// -----

// Permute: each output row copies the input row of its token id, or zeros
// for an id outside [0, T).
// CHECK-LABEL: func.func @permute(
// CHECK-SAME: %[[X:[a-z0-9]+]]: memref<?x8xbf16>, %[[TI:[a-z0-9]+]]: memref<?xi32>, %[[O:[a-z0-9]+]]: memref<?x8xbf16>)
// CHECK-DAG: %[[T:.*]] = memref.dim %[[X]], %c0
// CHECK-DAG: %[[P:.*]] = memref.dim %[[O]], %c0
// CHECK: scf.for %[[ROW:.*]] = %c0 to %[[P]]
// CHECK: %[[ID:.*]] = memref.load %[[TI]][%[[ROW]]]
// CHECK: %[[VALID:.*]] = arith.andi
// CHECK: scf.for %[[H:.*]] = %c0 to %c8
// CHECK: %[[V:.*]] = scf.if %[[VALID]] -> (bf16)
// CHECK: %[[SRC:.*]] = arith.index_cast %[[ID]] : i32 to index
// CHECK: memref.load %[[X]][%[[SRC]], %[[H]]]
// CHECK: } else {
// CHECK: scf.yield %{{.*}} : bf16
// CHECK: memref.store %[[V]], %[[O]][%[[ROW]], %[[H]]]
func.func @permute(%x: memref<?x8xbf16>, %t: memref<?xi32>, %o: memref<?x8xbf16>) {
  moe.buffer.permute ins(%x, %t : memref<?x8xbf16>, memref<?xi32>) outs(%o : memref<?x8xbf16>)
  return
}

// -----

// The vector sigmoid: e = exp(-|x|) with -|x| clamped by the comparison
// that also flushes e to 0, 2^n from the bits of n + 1.5 * 2^23 (shifted
// left by 23, plus the bits of 1.0: no float-to-int conversion), the
// numerator chosen by the sign bit, and no select for NaN (it propagates).
// CHECK-LABEL: func.func @score_sigmoid(
// CHECK-DAG: %[[LIMIT:.*]] = arith.constant dense<-87.3365402> : vector<16xf32>
// CHECK-DAG: %[[SHIFTER:.*]] = arith.constant dense<0x4B400000> : vector<16xf32>
// CHECK-DAG: %[[ONE:.*]] = arith.constant dense<1.000000e+00> : vector<16xf32>
// CHECK-DAG: %[[ONEBITS:.*]] = arith.constant dense<1065353216> : vector<16xi32>
// CHECK: %[[X:.*]] = vector.load
// CHECK: %[[ABS:.*]] = math.absf %[[X]]
// CHECK: %[[NEG:.*]] = arith.negf %[[ABS]]
// CHECK: %[[UNDER:.*]] = arith.cmpf olt, %[[NEG]], %[[LIMIT]]
// CHECK: %[[CLAMPED:.*]] = arith.select %[[UNDER]], %[[LIMIT]], %[[NEG]]
// CHECK: %[[SHIFTED:.*]] = arith.addf %{{.*}}, %[[SHIFTER]] fastmath<contract>
// CHECK-NOT: arith.fptosi
// CHECK: %[[BITS:.*]] = arith.bitcast %[[SHIFTED]] : vector<16xf32> to vector<16xi32>
// CHECK: %[[HIGH:.*]] = arith.shli %[[BITS]], %{{.*}} : vector<16xi32>
// CHECK: %[[POWBITS:.*]] = arith.addi %[[HIGH]], %[[ONEBITS]]
// CHECK: %[[POW:.*]] = arith.bitcast %[[POWBITS]] : vector<16xi32> to vector<16xf32>
// CHECK: %[[E0:.*]] = arith.mulf %{{.*}}, %[[POW]]
// CHECK: %[[E:.*]] = arith.select %[[UNDER]], %{{.*}}, %[[E0]]
// CHECK: %[[XBITS:.*]] = arith.bitcast %[[X]] : vector<16xf32> to vector<16xi32>
// CHECK: %[[SIGN:.*]] = arith.cmpi slt, %[[XBITS]]
// CHECK-DAG: %[[DEN:.*]] = arith.addf %[[E]], %[[ONE]]
// CHECK-DAG: %[[NUM:.*]] = arith.select %[[SIGN]], %[[E]], %[[ONE]]
// CHECK: %[[S:.*]] = arith.divf %[[NUM]], %[[DEN]]
// CHECK-NOT: arith.cmpf uno
// CHECK: vector.store %[[S]]
func.func @score_sigmoid(%x: memref<?x16xf32>, %s: memref<?x16xf32>) {
  moe.buffer.score sigmoid ins(%x : memref<?x16xf32>) outs(%s : memref<?x16xf32>)
  return
}

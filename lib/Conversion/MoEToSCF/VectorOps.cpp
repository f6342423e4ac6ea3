//===- VectorOps.cpp - vector building blocks of the CPU selection --------===//
//
// Lane indices, arg-max over rank images, lane ranks by lane permutations,
// masks as bits: the vector operations that the CPU selection strategies
// share.
//
//===----------------------------------------------------------------------===//

#include "Selection.h"

#include "moe/Conversion/MoECommon/RoutingMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe;

Value mlir::moe::splatI32(ImplicitLocOpBuilder &b, int64_t value) {
  auto type = VectorType::get({kVectorWidth}, b.getI32Type());
  return arith::ConstantOp::create(
      b, DenseElementsAttr::get(type, b.getI32IntegerAttr(value)));
}

/// The expert index of each of the `lanes` lanes of the chunk at `first`.
Value mlir::moe::emitLaneIndices(ImplicitLocOpBuilder &b, Value first,
                                 int64_t lanes) {
  SmallVector<int32_t> iota(lanes);
  for (int64_t i = 0; i < lanes; ++i)
    iota[i] = static_cast<int32_t>(i);
  auto type = VectorType::get({lanes}, b.getI32Type());
  Value base = vector::BroadcastOp::create(
      b, type, arith::IndexCastOp::create(b, b.getI32Type(), first));
  return arith::AddIOp::create(
      b, base,
      arith::ConstantOp::create(b, DenseIntElementsAttr::get(type, iota)));
}

/// The lowest expert with the best rank image among experts [first, end) of
/// `images` (padded to a multiple of kVectorWidth; lanes past E hold
/// kRemovedRank). One pass keeps, per lane, the best image and the first
/// expert that has it (a later chunk replaces it only with a strictly better
/// image); the lanes are then reduced to the best image and, among the lanes
/// that hold it, the lowest expert.
Value mlir::moe::emitArgMax(ImplicitLocOpBuilder &b, Value images, Value first,
                 Value end) {
  auto intType = VectorType::get({kVectorWidth}, b.getI32Type());
  Value width = constIndex(b, kVectorWidth);
  Value alignedFirst = arith::MulIOp::create(
      b, arith::DivUIOp::create(b, first, width), width);
  Value firstLanes = vector::BroadcastOp::create(
      b, intType, arith::IndexCastOp::create(b, b.getI32Type(), first));
  Value endLanes = vector::BroadcastOp::create(
      b, intType, arith::IndexCastOp::create(b, b.getI32Type(), end));
  Value removed = splatI32(b, kRemovedRank);
  auto loop = scf::ForOp::create(
      b, alignedFirst, end, width, ValueRange{removed, splatI32(b, 0)},
      [&](OpBuilder &nested, Location loc, Value chunk, ValueRange acc) {
        ImplicitLocOpBuilder b(loc, nested);
        Value lanes = emitLaneIndices(b, chunk);
        Value inRange = arith::AndIOp::create(
            b,
            arith::CmpIOp::create(b, arith::CmpIPredicate::sge, lanes,
                                  firstLanes),
            arith::CmpIOp::create(b, arith::CmpIPredicate::slt, lanes,
                                  endLanes));
        Value image = arith::SelectOp::create(
            b, inRange, vector::LoadOp::create(b, intType, images, chunk),
            removed);
        Value better = arith::CmpIOp::create(b, arith::CmpIPredicate::sgt,
                                             image, acc[0]);
        scf::YieldOp::create(
            b, ValueRange{arith::SelectOp::create(b, better, image, acc[0]),
                          arith::SelectOp::create(b, better, lanes, acc[1])});
      });
  Value bestImages = loop.getResult(0), bestLanes = loop.getResult(1);
  Value best = vector::ReductionOp::create(b, vector::CombiningKind::MAXSI,
                                           bestImages);
  Value noLane = splatI32(b, std::numeric_limits<int32_t>::max());
  Value holders = arith::SelectOp::create(
      b,
      arith::CmpIOp::create(b, arith::CmpIPredicate::eq, bestImages,
                            vector::BroadcastOp::create(b, intType, best)),
      bestLanes, noLane);
  Value index =
      vector::ReductionOp::create(b, vector::CombiningKind::MINSI, holders);
  return arith::IndexCastOp::create(b, b.getIndexType(), index);
}

/// Sets element `index` of the i32 buffer `buffer` to `value` with a vector
/// read-modify-write of its chunk: a scalar store followed by a vector load
/// of the same bytes (the next round's) would stall on store forwarding.
void mlir::moe::emitSetLane(ImplicitLocOpBuilder &b, Value buffer, Value index,
                 Value value) {
  auto intType = VectorType::get({kVectorWidth}, b.getI32Type());
  Value width = constIndex(b, kVectorWidth);
  Value chunk =
      arith::MulIOp::create(b, arith::DivUIOp::create(b, index, width), width);
  Value isIndex = arith::CmpIOp::create(
      b, arith::CmpIPredicate::eq, emitLaneIndices(b, chunk),
      vector::BroadcastOp::create(
          b, intType, arith::IndexCastOp::create(b, b.getI32Type(), index)));
  Value updated = arith::SelectOp::create(
      b, isIndex, vector::BroadcastOp::create(b, intType, value),
      vector::LoadOp::create(b, intType, buffer, chunk));
  vector::StoreOp::create(b, updated, buffer, chunk);
}

/// The best rank image of the chunk of kVectorWidth experts at `first`.
Value mlir::moe::emitChunkMax(ImplicitLocOpBuilder &b, Value images, Value first) {
  auto intType = VectorType::get({kVectorWidth}, b.getI32Type());
  return vector::ReductionOp::create(
      b, vector::CombiningKind::MAXSI,
      vector::LoadOp::create(b, intType, images, first));
}

/// A loop over [0, end) by `step` carrying `init`.
SmallVector<Value> mlir::moe::emitChunkIter(ImplicitLocOpBuilder &b,
                                            int64_t end, ValueRange init,
                                            IterBodyFn body, int64_t step) {
  auto loop = scf::ForOp::create(
      b, constIndex(b, 0), constIndex(b, end), constIndex(b, step),
      init, [&](OpBuilder &nested, Location loc, Value i, ValueRange acc) {
        ImplicitLocOpBuilder ib(loc, nested);
        scf::YieldOp::create(ib, body(ib, i, acc));
      });
  return SmallVector<Value>(loop.getResults());
}

/// The lanes of a vector<kVectorWidth x i1> as the low bits of an i32.
/// The lanes of a vector<n x i1> mask as the low bits of an integer of
/// `width` >= n bits.
static Value emitMaskAsInteger(ImplicitLocOpBuilder &b, Value mask,
                               unsigned width) {
  int64_t n = cast<VectorType>(mask.getType()).getNumElements();
  auto bitsType = VectorType::get({1}, b.getIntegerType(n));
  Value bits = vector::ExtractOp::create(
      b, vector::BitCastOp::create(b, bitsType, mask), ArrayRef<int64_t>{0});
  if (n == width)
    return bits;
  return arith::ExtUIOp::create(b, b.getIntegerType(width), bits);
}

Value mlir::moe::emitMaskBits(ImplicitLocOpBuilder &b, Value mask) {
  return emitMaskAsInteger(b, mask, 32);
}

Value mlir::moe::emitMaskBits64(ImplicitLocOpBuilder &b, Value mask) {
  return emitMaskAsInteger(b, mask, 64);
}

Value mlir::moe::emitLaneCount(ImplicitLocOpBuilder &b, Value mask) {
  return arith::IndexCastUIOp::create(
      b, b.getIndexType(), math::CtPopOp::create(b, emitMaskBits(b, mask)));
}

/// The first lane set in a vector<n x i1> mask, n <= 64 (n when none), as an
/// index.
Value mlir::moe::emitFirstLaneOf(ImplicitLocOpBuilder &b, Value mask) {
  int64_t n = cast<VectorType>(mask.getType()).getNumElements();
  Value wide = emitMaskBits64(b, mask);
  if (n < 64)
    wide = arith::OrIOp::create(
        b, wide, arith::ConstantIntOp::create(b, b.getI64Type(), 1LL << n));
  return arith::IndexCastUIOp::create(
      b, b.getIndexType(), math::CountTrailingZerosOp::create(b, wide));
}

/// Per lane l of the i32 vector `v`: how many lanes rank above it, where
/// lane m ranks above lane l if v[m] > v[l] or, when `lowerLaneFirst`,
/// v[m] == v[l] and m < l. With `lowerLaneFirst` the counts are a
/// permutation of [0, width): the rank of each lane. Lane l meets lane
/// l xor r for r in [1, width) (width a power of two): every other lane
/// once, by permutations that keep groups of four lanes together for r < 4
/// and move whole groups for multiples of 4, which 128-bit and 256-bit
/// vectors do without cross-lane shuffles. Compares only: no horizontal
/// reduction, no memory.
Value mlir::moe::emitLaneRanks(ImplicitLocOpBuilder &b, Value v,
                               bool lowerLaneFirst) {
  auto intType = cast<VectorType>(v.getType());
  int64_t width = intType.getNumElements();
  assert(llvm::isPowerOf2_64(width) && "lane ranks need a power-of-two width");
  auto maskType = VectorType::get({width}, b.getI1Type());
  SmallVector<Value> terms;
  for (int64_t r = 1; r < width; ++r) {
    // Lane l of `partner` holds lane l xor r, which comes before lane l
    // when it is the lower one.
    SmallVector<int64_t> partners;
    SmallVector<bool> before;
    for (int64_t l = 0; l < width; ++l) {
      partners.push_back(l ^ r);
      before.push_back((l ^ r) < l);
    }
    Value partner = vector::ShuffleOp::create(b, v, v, partners);
    Value above =
        arith::CmpIOp::create(b, arith::CmpIPredicate::sgt, partner, v);
    if (lowerLaneFirst) {
      Value beforeMask = arith::ConstantOp::create(
          b, DenseElementsAttr::get(maskType, ArrayRef<bool>(before)));
      Value equal =
          arith::CmpIOp::create(b, arith::CmpIPredicate::eq, partner, v);
      above = arith::OrIOp::create(
          b, above, arith::AndIOp::create(b, equal, beforeMask));
    }
    terms.push_back(above);
  }
  // Four accumulators of conditional increments (one masked add each on
  // AVX-512), then their sum: short dependency chains.
  constexpr size_t kAccumulators = 4;
  Value one = arith::ConstantOp::create(
      b, DenseElementsAttr::get(intType, b.getI32IntegerAttr(1)));
  SmallVector<Value> accs;
  for (size_t i = 0; i < terms.size(); ++i) {
    if (i < kAccumulators) {
      accs.push_back(arith::ExtUIOp::create(b, intType, terms[i]));
      continue;
    }
    Value &acc = accs[i % kAccumulators];
    acc = arith::SelectOp::create(b, terms[i],
                                  arith::AddIOp::create(b, acc, one), acc);
  }
  terms = std::move(accs);
  while (terms.size() > 1) {
    SmallVector<Value> next;
    for (size_t i = 0; i + 1 < terms.size(); i += 2)
      next.push_back(arith::AddIOp::create(b, terms[i], terms[i + 1]));
    if (terms.size() % 2)
      next.push_back(terms.back());
    terms = std::move(next);
  }
  return terms.front();
}

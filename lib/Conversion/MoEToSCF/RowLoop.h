//===- RowLoop.h - loops over a row of experts in vector chunks -*- C++ -*-===//
//
// The loops of the CPU lowering over the E experts of one token's row:
// vector chunks where the row's memory is contiguous, then single experts,
// and reductions over the row in lane accumulators.
//
//===----------------------------------------------------------------------===//
#ifndef MOE_LIB_CONVERSION_MOETOSCF_ROWLOOP_H
#define MOE_LIB_CONVERSION_MOETOSCF_ROWLOOP_H

#include "moe/Conversion/MoECommon/Builders.h"
#include "moe/Conversion/MoECommon/RoutingMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <limits>

namespace mlir::moe {

/// Whether the innermost dimension of `memref` has unit stride, so that a
/// RowLoop over its rows may vectorize.
inline bool isContiguous(Value memref) {
  return cast<MemRefType>(memref.getType()).isLastDimUnitStride();
}

/// The experts [0, E) of a row: chunks of kLanes lanes while they fit (when
/// the row's memory is contiguous), then single experts. Bodies see the
/// first expert of a chunk and its lane count (kLanes or 1); their values
/// are f32 scalars or vector<kLanes x f32>.
class RowLoop {
public:
  /// Lanes of the vector chunks.
  static constexpr int64_t kLanes = 16;

  RowLoop(int64_t numExperts, bool vectorize)
      : numExperts(numExperts),
        vectorEnd(vectorize ? numExperts / kLanes * kLanes : 0) {}

  using Body = function_ref<void(ImplicitLocOpBuilder &, Value, int64_t)>;
  using ReduceBody = function_ref<SmallVector<Value>(ImplicitLocOpBuilder &,
                                                     Value, int64_t)>;

  void forEach(ImplicitLocOpBuilder &b, Body body) const {
    if (vectorEnd > 0)
      emitFor(
          b, constIndex(b, 0), constIndex(b, vectorEnd),
          [&](ImplicitLocOpBuilder &b, Value e) { body(b, e, kLanes); },
          constIndex(b, kLanes));
    if (vectorEnd < numExperts)
      emitFor(b, vectorEnd, numExperts,
              [&](ImplicitLocOpBuilder &b, Value e) { body(b, e, 1); });
  }

  /// The sums (or maxima, with `max`) over the row of the `count` values
  /// that `body` returns per chunk.
  SmallVector<Value> reduce(ImplicitLocOpBuilder &b, unsigned count,
                            ReduceBody body, bool max = false) const {
    double init = max ? -std::numeric_limits<double>::infinity() : 0.0;
    auto combine = [&](ImplicitLocOpBuilder &b, Value acc,
                       Value value) -> Value {
      if (max)
        return arith::MaximumFOp::create(b, acc, value);
      return arith::AddFOp::create(b, acc, value);
    };
    SmallVector<Value> result(count, emitF32(b, init));
    if (vectorEnd > 0) {
      SmallVector<Value> inits(count, splat(b, init, kLanes));
      auto loop = scf::ForOp::create(
          b, constIndex(b, 0), constIndex(b, vectorEnd), constIndex(b, kLanes),
          inits,
          [&](OpBuilder &nested, Location loc, Value e, ValueRange acc) {
            ImplicitLocOpBuilder ib(loc, nested);
            SmallVector<Value> values = body(ib, e, kLanes);
            SmallVector<Value> next;
            for (auto [a, v] : llvm::zip_equal(acc, values))
              next.push_back(combine(ib, a, v));
            scf::YieldOp::create(ib, next);
          });
      auto kind =
          max ? vector::CombiningKind::MAXIMUMF : vector::CombiningKind::ADD;
      // The lanes combine in a tree (reassoc): an ordered reduction would
      // be a chain of kLanes dependent additions per token.
      for (unsigned i = 0; i < count; ++i)
        result[i] = vector::ReductionOp::create(b, kind, loop.getResult(i),
                                                arith::FastMathFlags::reassoc);
    }
    if (vectorEnd < numExperts)
      result = emitForIter(b, constIndex(b, vectorEnd),
                           constIndex(b, numExperts), result,
                           [&](ImplicitLocOpBuilder &b, Value e,
                               ValueRange acc) {
                             SmallVector<Value> values = body(b, e, 1);
                             SmallVector<Value> next;
                             for (auto [a, v] : llvm::zip_equal(acc, values))
                               next.push_back(combine(b, a, v));
                             return next;
                           });
    return result;
  }

  /// An f32 constant of `lanes` lanes.
  static Value splat(ImplicitLocOpBuilder &b, double value, int64_t lanes) {
    if (lanes == 1)
      return emitF32(b, value);
    auto type = VectorType::get({lanes}, b.getF32Type());
    return arith::ConstantOp::create(
        b, DenseElementsAttr::get(type, b.getF32FloatAttr(value)));
  }

  /// `lanes` consecutive elements of `memref` at `indices` as f32.
  static Value read(ImplicitLocOpBuilder &b, Value memref, ValueRange indices,
                    int64_t lanes) {
    if (lanes == 1)
      return emitToF32(b, load(b, memref, indices));
    Type element = elementTypeOf(memref);
    Value value = vector::LoadOp::create(
        b, VectorType::get({lanes}, element), memref, indices);
    if (element.isF32())
      return value;
    return arith::ExtFOp::create(
        b, VectorType::get({lanes}, b.getF32Type()), value);
  }

  /// Stores f32 `value` into `memref` at `indices`, rounded once to its
  /// element type.
  static void write(ImplicitLocOpBuilder &b, Value value, Value memref,
                    ValueRange indices, int64_t lanes) {
    Type element = elementTypeOf(memref);
    if (!element.isF32())
      value = arith::TruncFOp::create(
          b, lanes == 1 ? element : VectorType::get({lanes}, element), value);
    if (lanes == 1)
      store(b, value, memref, indices);
    else
      vector::StoreOp::create(b, value, memref, indices);
  }

  /// A scalar broadcast to `lanes` lanes.
  static Value broadcast(ImplicitLocOpBuilder &b, Value scalar,
                         int64_t lanes) {
    if (lanes == 1)
      return scalar;
    return vector::BroadcastOp::create(
        b, VectorType::get({lanes}, scalar.getType()), scalar);
  }

private:
  int64_t numExperts;
  int64_t vectorEnd;
};

} // namespace mlir::moe

#endif // MOE_LIB_CONVERSION_MOETOSCF_ROWLOOP_H

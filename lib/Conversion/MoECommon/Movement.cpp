//===- Movement.cpp - moe.dispatch, moe.permute, moe.combine --------------===//
//
// The ops that move tokens to experts and back, written once against
// LoweringTarget. Runtime data (indices, token ids, slots) is range-checked
// before it addresses memory.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/MoECommon/Algorithms.h"

#include "moe/Conversion/MoECommon/Builders.h"
#include "moe/Conversion/MoECommon/RoutingMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::moe;

/// 1. Count the valid pairs of each expert.
/// 2. One thread scans the kept counts (min(count, capacity)) into
///    block-padded offsets; next[e] is the first row of expert e and end[e]
///    one past its last kept row.
/// 3. Every row and slot starts as -1.
/// 4. The pairs of each expert, in ascending (t, j), take its rows in order:
///    the layout does not depend on how the target schedules experts.
void mlir::moe::emitDispatch(ImplicitLocOpBuilder &b,
                             const LoweringTarget &target,
                             BufferDispatchOp op) {
  int64_t numExperts = op.getNumExperts();
  int64_t block = op.getBlock();
  std::optional<int64_t> capacity = op.getCapacity();
  Value indices = op.getIndices();
  Value numTokens = dimOf(b, indices, 0);
  Value k = dimOf(b, indices, 1);
  Value numExpertsValue = constIndex(b, numExperts);
  Type i64 = b.getI64Type();

  auto expertRow = MemRefType::get({numExperts}, i64);
  Value next = target.allocScratch(b, expertRow);
  Value end = target.allocScratch(b, expertRow);

  target.count(b, getKernelName(op, "count"), end, numTokens,
               [&](ImplicitLocOpBuilder &b, Value t, CountFn add) {
                 emitFor(b, 0, k, [&](ImplicitLocOpBuilder &b, Value j) {
                   Value e = load(b, indices, {t, j});
                   emitIf(b, emitInRange(b, e, numExpertsValue),
                          [&](ImplicitLocOpBuilder &b) {
                            add(b, castIndex(b, b.getIndexType(), e));
                          });
                 });
               });

  Type offsetType = elementTypeOf(op.getOffsets());
  target.forEachItem(
      b, getKernelName(op, "scan"), constIndex(b, 1), ItemKind::Thread,
      [&](ImplicitLocOpBuilder &b, const ThreadGroup &, Value) {
        Value blockValue = arith::ConstantIntOp::create(b, i64, block);
        store(b, arith::ConstantIntOp::create(b, offsetType, 0),
              op.getOffsets(), constIndex(b, 0));
        emitForIter(
            b, 0, numExperts,
            ValueRange{arith::ConstantIntOp::create(b, i64, 0)},
            [&](ImplicitLocOpBuilder &b, Value e, ValueRange acc) {
              Value start = acc[0];
              Value kept = load(b, end, e);
              if (capacity)
                kept = arith::MinUIOp::create(
                    b, kept, arith::ConstantIntOp::create(b, i64, *capacity));
              Value padded = kept;
              if (block != 1)
                padded = arith::MulIOp::create(
                    b, arith::CeilDivUIOp::create(b, kept, blockValue),
                    blockValue);
              Value segmentEnd = arith::AddIOp::create(b, start, padded);
              store(b, start, next, e);
              store(b, arith::AddIOp::create(b, start, kept), end, e);
              Value offset =
                  offsetType.isInteger(64)
                      ? segmentEnd
                      : Value(arith::TruncIOp::create(b, offsetType,
                                                      segmentEnd));
              Value nextExpert = arith::AddIOp::create(b, e, constIndex(b, 1));
              store(b, offset, op.getOffsets(), nextExpert);
              return SmallVector<Value>{segmentEnd};
            });
      });

  Type tokenType = elementTypeOf(op.getTokenIds());
  Type slotType = elementTypeOf(op.getSlots());
  target.fill(b, getKernelName(op, "clear_rows"), op.getTokenIds(),
              b.getIntegerAttr(tokenType, -1));
  target.forEachItem(
      b, getKernelName(op, "clear_slots"), numTokens, ItemKind::Thread,
      [&](ImplicitLocOpBuilder &b, const ThreadGroup &, Value t) {
        Value dropped = arith::ConstantIntOp::create(b, slotType, -1);
        emitFor(b, 0, k, [&](ImplicitLocOpBuilder &b, Value j) {
          store(b, dropped, op.getSlots(), {t, j});
        });
      });

  Value rows = castIndex(b, i64, dimOf(b, op.getTokenIds(), 0));
  target.forEachPairByExpert(
      b, getKernelName(op, "fill"), indices, numExperts,
      [&](ImplicitLocOpBuilder &b, Value t, Value j, Value e) {
        Value row = load(b, next, e);
        Value kept = arith::AndIOp::create(
            b,
            arith::CmpIOp::create(b, arith::CmpIPredicate::ult, row,
                                  load(b, end, e)),
            arith::CmpIOp::create(b, arith::CmpIPredicate::ult, row, rows));
        emitIf(b, kept, [&](ImplicitLocOpBuilder &b) {
          Value rowIndex = castIndex(b, b.getIndexType(), row);
          store(b, castIndex(b, tokenType, t), op.getTokenIds(), rowIndex);
          store(b, castIndex(b, slotType, rowIndex), op.getSlots(), {t, j});
          store(b,
                arith::AddIOp::create(b, row,
                                      arith::ConstantIntOp::create(b, i64, 1)),
                next, e);
        });
      });
  target.releaseScratch(b, next);
  target.releaseScratch(b, end);
}

void mlir::moe::emitPermute(ImplicitLocOpBuilder &b,
                            const LoweringTarget &target, BufferPermuteOp op) {
  Value input = op.getInput(), output = op.getOutput();
  Value numTokens = dimOf(b, input, 0);
  Value width = dimOf(b, input, 1);
  Type elementType = elementTypeOf(input);
  target.forEachItem(
      b, getKernelName(op), dimOf(b, output, 0), ItemKind::Block,
      [&](ImplicitLocOpBuilder &b, const ThreadGroup &group, Value p) {
        Value id = load(b, op.getTokenIds(), p);
        Value valid = emitInRange(b, id, numTokens);
        Value zero = arith::ConstantOp::create(
            b, cast<TypedAttr>(b.getZeroAttr(elementType)));
        group.forEach(
            b, constIndex(b, 0), width, [&](ImplicitLocOpBuilder &b, Value h) {
              auto value = scf::IfOp::create(
                  b, valid,
                  [&](OpBuilder &nested, Location loc) {
                    ImplicitLocOpBuilder ib(loc, nested);
                    Value t = castIndex(ib, ib.getIndexType(), id);
                    scf::YieldOp::create(ib, load(ib, input, {t, h}));
                  },
                  [&](OpBuilder &nested, Location loc) {
                    scf::YieldOp::create(nested, loc, zero);
                  });
              store(b, value.getResult(0), output, {p, h});
            });
      });
}

void mlir::moe::emitCombine(ImplicitLocOpBuilder &b,
                            const LoweringTarget &target, BufferCombineOp op) {
  Value width = dimOf(b, op.getExpertOut(), 1);
  target.forEachItem(
      b, getKernelName(op), dimOf(b, op.getWeights(), 0), ItemKind::Block,
      [&](ImplicitLocOpBuilder &b, const ThreadGroup &group, Value t) {
        group.forEach(b, constIndex(b, 0), width,
                      [&](ImplicitLocOpBuilder &b, Value h) {
                        store(b,
                              emitCombineElement(b, op.getExpertOut(),
                                                 op.getWeights(),
                                                 op.getSlots(), t, h),
                              op.getOutput(), {t, h});
                      });
      });
}

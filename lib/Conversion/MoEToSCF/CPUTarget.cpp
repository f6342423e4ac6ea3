//===- CPUTarget.cpp - the CPU mapping of the moe algorithms --------------===//

#include "CPUTarget.h"

#include "moe/Conversion/MoECommon/Builders.h"
#include "moe/Conversion/MoECommon/RoutingMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::moe;

Value mlir::moe::createScratch(ImplicitLocOpBuilder &b, MemRefType type) {
  Operation *scope = b.getInsertionBlock()->getParentOp();
  while (scope && !scope->hasTrait<OpTrait::AutomaticAllocationScope>())
    scope = scope->getParentOp();
  OpBuilder::InsertionGuard guard(b);
  if (scope) {
    // After the scratch buffers already there, in creation order.
    Block &entry = scope->getRegion(0).front();
    auto it = entry.begin();
    while (it != entry.end() && isa<memref::AllocaOp>(*it))
      ++it;
    b.setInsertionPoint(&entry, it);
  }
  return memref::AllocaOp::create(b, type);
}

void mlir::moe::emitIncrement(ImplicitLocOpBuilder &b, Value counts,
                              Value index) {
  Value one = arith::ConstantIntOp::create(b, elementTypeOf(counts), 1);
  Value old = load(b, counts, index);
  store(b, arith::AddIOp::create(b, old, one), counts, index);
}

void CPUTarget::forEachItem(ImplicitLocOpBuilder &b, StringRef, Value n,
                            ItemKind, ItemBodyFn body) const {
  SingleThreadGroup group;
  // A single item needs no loop (the result of an imbalance op, the offset
  // scan of a dispatch).
  if (matchPattern(n, m_One())) {
    body(b, group, constIndex(b, 0));
    return;
  }
  emitFor(b, 0, n,
          [&](ImplicitLocOpBuilder &b, Value item) { body(b, group, item); });
}

void CPUTarget::count(
    ImplicitLocOpBuilder &b, StringRef name, Value counts, Value n,
    function_ref<void(ImplicitLocOpBuilder &, Value, CountFn)> body) const {
  fill(b, name, counts, cast<TypedAttr>(b.getZeroAttr(elementTypeOf(counts))));
  emitFor(b, 0, n, [&](ImplicitLocOpBuilder &b, Value item) {
    body(b, item, [&](ImplicitLocOpBuilder &b, Value index) {
      emitIncrement(b, counts, index);
    });
  });
}

void CPUTarget::fill(ImplicitLocOpBuilder &b, StringRef, Value memref,
                     TypedAttr value) const {
  Value constant = arith::ConstantOp::create(b, value);
  emitFor(b, 0, dimOf(b, memref, 0), [&](ImplicitLocOpBuilder &b, Value i) {
    store(b, constant, memref, i);
  });
}

void CPUTarget::forEachPairByExpert(
    ImplicitLocOpBuilder &b, StringRef, Value indices, int64_t numExperts,
    function_ref<void(ImplicitLocOpBuilder &, Value, Value, Value)> body)
    const {
  // One pass over the pairs in ascending (t, j) orders every expert's pairs.
  Value numExpertsValue = constIndex(b, numExperts);
  Value k = dimOf(b, indices, 1);
  emitFor(b, 0, dimOf(b, indices, 0), [&](ImplicitLocOpBuilder &b, Value t) {
    emitFor(b, 0, k, [&](ImplicitLocOpBuilder &b, Value j) {
      Value e = load(b, indices, {t, j});
      emitIf(b, emitInRange(b, e, numExpertsValue),
             [&](ImplicitLocOpBuilder &b) {
               body(b, t, j, castIndex(b, b.getIndexType(), e));
             });
    });
  });
}

Value CPUTarget::allocScratch(ImplicitLocOpBuilder &b, MemRefType type) const {
  return createScratch(b, type);
}

Value CPUTarget::loadScalar(ImplicitLocOpBuilder &b, Value buffer) const {
  return load(b, buffer, constIndex(b, 0));
}

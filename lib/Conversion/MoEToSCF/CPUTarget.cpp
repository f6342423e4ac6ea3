//===- CPUTarget.cpp - the CPU mapping of the moe algorithms --------------===//

#include "CPUTarget.h"

#include "moe/Conversion/MoECommon/Builders.h"
#include "moe/Conversion/MoECommon/RoutingMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::moe;

/// The alignment of heap scratch buffers: a cache line.
constexpr int64_t kScratchAlignment = 64;

Value mlir::moe::createScratch(ImplicitLocOpBuilder &b, MemRefType type) {
  Operation *scope = b.getInsertionBlock()->getParentOp();
  while (scope && !scope->hasTrait<OpTrait::AutomaticAllocationScope>())
    scope = scope->getParentOp();
  OpBuilder::InsertionGuard guard(b);
  if (!scope)
    return memref::AllocaOp::create(b, type);
  // After the scratch buffers already there, in creation order.
  Block &entry = scope->getRegion(0).front();
  auto it = entry.begin();
  while (it != entry.end() && isa<memref::AllocaOp, memref::AllocOp>(*it))
    ++it;
  b.setInsertionPoint(&entry, it);
  if (!isa<scf::ParallelOp>(scope))
    return memref::AllocaOp::create(b, type);
  // An iteration of a parallel loop: --convert-scf-to-openmp puts its body
  // in a memref.alloca_scope, which must stay a single block, so the buffer
  // is on the heap, freed at the end of the iteration.
  Value buffer =
      memref::AllocOp::create(b, type, b.getI64IntegerAttr(kScratchAlignment));
  b.setInsertionPoint(entry.getTerminator());
  memref::DeallocOp::create(b, buffer);
  return buffer;
}

void mlir::moe::emitIncrement(ImplicitLocOpBuilder &b, Value counts,
                              Value index) {
  Value one = arith::ConstantIntOp::create(b, elementTypeOf(counts), 1);
  Value old = load(b, counts, index);
  store(b, arith::AddIOp::create(b, old, one), counts, index);
}

void mlir::moe::emitParallelFor(ImplicitLocOpBuilder &b, Value lb, Value ub,
                                BodyFn body) {
  // The body is built once the loop exists, so that scratch buffers find it
  // as their allocation scope.
  auto loop = scf::ParallelOp::create(b, ValueRange{lb}, ValueRange{ub},
                                      ValueRange{constIndex(b, 1)});
  OpBuilder::InsertionGuard guard(b);
  Operation *terminator = loop.getBody()->getTerminator();
  b.setInsertionPoint(terminator);
  body(b, loop.getInductionVars().front());
  // The heap scratch of the iteration (createScratch) is freed after it.
  SmallVector<Operation *> deallocs;
  for (auto dealloc : loop.getBody()->getOps<memref::DeallocOp>())
    if (dealloc.getMemref().getDefiningOp<memref::AllocOp>() &&
        dealloc.getMemref().getParentBlock() == loop.getBody())
      deallocs.push_back(dealloc);
  for (Operation *dealloc : deallocs)
    dealloc->moveBefore(terminator);
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
  auto item = [&](ImplicitLocOpBuilder &b, Value i) { body(b, group, i); };
  if (parallel)
    emitParallelFor(b, constIndex(b, 0), n, item);
  else
    emitFor(b, 0, n, item);
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

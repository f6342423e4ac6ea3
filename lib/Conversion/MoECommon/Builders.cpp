//===- Builders.cpp - structured-loop building helpers --------------------===//

#include "moe/Conversion/MoECommon/Builders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::moe;

Value mlir::moe::constIndex(ImplicitLocOpBuilder &b, int64_t value) {
  return arith::ConstantIndexOp::create(b, value);
}

Value mlir::moe::dimOf(ImplicitLocOpBuilder &b, Value memref, int64_t index) {
  return memref::DimOp::create(b, memref, index);
}

void mlir::moe::emitFor(ImplicitLocOpBuilder &b, Value lb, Value ub,
                        BodyFn body, Value step) {
  scf::ForOp::create(b, lb, ub, step ? step : constIndex(b, 1), ValueRange{},
                     [&](OpBuilder &nested, Location loc, Value iv,
                         ValueRange) {
                       ImplicitLocOpBuilder ib(loc, nested);
                       body(ib, iv);
                       scf::YieldOp::create(ib);
                     });
}

void mlir::moe::emitFor(ImplicitLocOpBuilder &b, int64_t lb, Value ub,
                        BodyFn body) {
  emitFor(b, constIndex(b, lb), ub, body);
}

void mlir::moe::emitFor(ImplicitLocOpBuilder &b, int64_t lb, int64_t ub,
                        BodyFn body) {
  emitFor(b, constIndex(b, lb), constIndex(b, ub), body);
}

SmallVector<Value> mlir::moe::emitForIter(ImplicitLocOpBuilder &b, Value lb,
                                          Value ub, ValueRange init,
                                          IterBodyFn body) {
  auto loop = scf::ForOp::create(
      b, lb, ub, constIndex(b, 1), init,
      [&](OpBuilder &nested, Location loc, Value iv, ValueRange args) {
        ImplicitLocOpBuilder ib(loc, nested);
        scf::YieldOp::create(ib, body(ib, iv, args));
      });
  return SmallVector<Value>(loop.getResults());
}

SmallVector<Value> mlir::moe::emitForIter(ImplicitLocOpBuilder &b, int64_t lb,
                                          int64_t ub, ValueRange init,
                                          IterBodyFn body) {
  return emitForIter(b, constIndex(b, lb), constIndex(b, ub), init, body);
}

void mlir::moe::emitIf(ImplicitLocOpBuilder &b, Value cond,
                       function_ref<void(ImplicitLocOpBuilder &)> then) {
  scf::IfOp::create(b, cond, [&](OpBuilder &nested, Location loc) {
    ImplicitLocOpBuilder ib(loc, nested);
    then(ib);
    scf::YieldOp::create(ib);
  });
}

Value mlir::moe::load(ImplicitLocOpBuilder &b, Value memref,
                      ValueRange indices) {
  return memref::LoadOp::create(b, memref, indices);
}

void mlir::moe::store(ImplicitLocOpBuilder &b, Value value, Value memref,
                      ValueRange indices) {
  memref::StoreOp::create(b, value, memref, indices);
}

Value mlir::moe::castIndex(ImplicitLocOpBuilder &b, Type type, Value value) {
  return arith::IndexCastOp::create(b, type, value);
}

Type mlir::moe::elementTypeOf(Value memref) {
  return cast<MemRefType>(memref.getType()).getElementType();
}

//===- Target.cpp - pieces of the target interface that all targets share -===//

#include "moe/Conversion/MoECommon/Target.h"

#include "moe/Conversion/MoECommon/Algorithms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::moe;

Value mlir::moe::emitReductionStep(ImplicitLocOpBuilder &b, Reduction kind,
                                   Value x, Value y) {
  switch (kind) {
  case Reduction::AddI:
    return arith::AddIOp::create(b, x, y);
  case Reduction::AddF:
    return arith::AddFOp::create(b, x, y);
  case Reduction::MaxF:
    return arith::MaximumFOp::create(b, x, y);
  }
  llvm_unreachable("unknown reduction");
}

void SingleThreadGroup::forEach(ImplicitLocOpBuilder &b, Value lb, Value ub,
                                BodyFn body) const {
  emitFor(b, lb, ub, body);
}

SmallVector<Value> SingleThreadGroup::reduce(ImplicitLocOpBuilder &b, Value lb,
                                             Value ub, ValueRange init,
                                             ArrayRef<Reduction>,
                                             IterBodyFn body) const {
  return emitForIter(b, lb, ub, init, body);
}

void SingleThreadGroup::single(
    ImplicitLocOpBuilder &b,
    function_ref<void(ImplicitLocOpBuilder &)> body) const {
  body(b);
}

std::string mlir::moe::getKernelName(Operation *op, StringRef step) {
  std::string name = getUserOpName(op);
  std::replace(name.begin(), name.end(), '.', '_');
  if (!step.empty())
    name += ("_" + step).str();
  return name + "_kernel";
}


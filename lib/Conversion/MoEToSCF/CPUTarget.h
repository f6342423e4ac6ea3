//===- CPUTarget.h - the CPU mapping of the moe algorithms ------*- C++ -*-===//
//
// One thread: items are iterations of an scf.for, a thread group is the
// thread itself, counters are plain increments and scratch lives on the
// stack of the enclosing function.
//
//===----------------------------------------------------------------------===//
#ifndef MOE_LIB_CONVERSION_MOETOSCF_CPUTARGET_H
#define MOE_LIB_CONVERSION_MOETOSCF_CPUTARGET_H

#include "moe/Conversion/MoECommon/Target.h"

namespace mlir::moe {

class CPUTarget : public LoweringTarget {
public:
  void forEachItem(ImplicitLocOpBuilder &b, StringRef name, Value n,
                   ItemKind kind, ItemBodyFn body) const override;
  void count(ImplicitLocOpBuilder &b, StringRef name, Value counts, Value n,
             function_ref<void(ImplicitLocOpBuilder &, Value, CountFn)> body)
      const override;
  void fill(ImplicitLocOpBuilder &b, StringRef name, Value memref,
            TypedAttr value) const override;
  void forEachPairByExpert(
      ImplicitLocOpBuilder &b, StringRef name, Value indices,
      int64_t numExperts,
      function_ref<void(ImplicitLocOpBuilder &, Value, Value, Value)> body)
      const override;
  Value allocScratch(ImplicitLocOpBuilder &b, MemRefType type) const override;
  void releaseScratch(ImplicitLocOpBuilder &, Value) const override {}
  Value loadScalar(ImplicitLocOpBuilder &b, Value buffer) const override;
};

/// A statically shaped stack buffer, created at the start of the enclosing
/// automatic allocation scope (the function), so that an op inside a loop
/// does not grow the stack.
Value createScratch(ImplicitLocOpBuilder &b, MemRefType type);

/// Adds one to element `index` of an integer counter buffer.
void emitIncrement(ImplicitLocOpBuilder &b, Value counts, Value index);

} // namespace mlir::moe

#endif // MOE_LIB_CONVERSION_MOETOSCF_CPUTARGET_H

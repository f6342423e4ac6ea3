//===- CPUTarget.h - the CPU mapping of the moe algorithms ------*- C++ -*-===//
//
// One thread per item: items are iterations of an scf.for (or, with
// `parallel`, of an scf.parallel that OpenMP splits across threads), a
// thread group is the thread itself, counters are plain increments and
// scratch lives on the stack of the enclosing allocation scope (the
// function, or the body of an scf.parallel: one copy per thread).
//
//===----------------------------------------------------------------------===//
#ifndef MOE_LIB_CONVERSION_MOETOSCF_CPUTARGET_H
#define MOE_LIB_CONVERSION_MOETOSCF_CPUTARGET_H

#include "moe/Conversion/MoECommon/Target.h"

namespace mlir::moe {

class CPUTarget : public LoweringTarget {
public:
  explicit CPUTarget(bool parallel = false) : parallel(parallel) {}

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

private:
  bool parallel;
};

/// An scf.parallel loop over [lb, ub): `body(i)` for each i, in any order
/// and on any thread.
void emitParallelFor(ImplicitLocOpBuilder &b, Value lb, Value ub, BodyFn body);

/// A statically shaped stack buffer, created at the start of the enclosing
/// automatic allocation scope (the function, or the body of an
/// scf.parallel), so that an op inside a loop does not grow the stack and
/// each thread of a parallel loop has its own.
Value createScratch(ImplicitLocOpBuilder &b, MemRefType type);

/// Adds one to element `index` of an integer counter buffer.
void emitIncrement(ImplicitLocOpBuilder &b, Value counts, Value index);

} // namespace mlir::moe

#endif // MOE_LIB_CONVERSION_MOETOSCF_CPUTARGET_H

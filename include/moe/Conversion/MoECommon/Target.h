//===- Target.h - how the lowerings map routing work to a target -*- C++ -*-===//
//
// The moe op algorithms are written once against this interface (see
// Algorithms.h); the CPU and GPU lowerings implement it. A target says how
// the independent items of an op (tokens, bias rows, output rows) are
// iterated, how the threads that share an item cooperate (split a range,
// reduce, elect one), how counters are kept, and where scratch lives.
//
// CPU: one thread per item, items in an scf.for. GPU: a thread per item over
// a grid-stride loop, or a block of threads per item (block reductions in
// workgroup memory); counts in a workgroup histogram flushed with atomics.
//
//===----------------------------------------------------------------------===//
#ifndef MOE_CONVERSION_MOECOMMON_TARGET_H
#define MOE_CONVERSION_MOECOMMON_TARGET_H

#include "moe/Conversion/MoECommon/Builders.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::moe {

/// How the partial values of a group reduction combine.
enum class Reduction {
  AddI, // integer sum
  AddF, // f32 sum
  MaxF, // f32 maximum (NaN-propagating)
};

/// Combines two partial values of a reduction.
Value emitReductionStep(ImplicitLocOpBuilder &b, Reduction kind, Value x,
                        Value y);

/// The threads that work on one item together: one thread on the CPU, one
/// thread or a block of threads on the GPU (see ItemKind).
class ThreadGroup {
public:
  virtual ~ThreadGroup() = default;

  /// Runs `body(i)` for every i in [lb, ub), spread over the threads.
  virtual void forEach(ImplicitLocOpBuilder &b, Value lb, Value ub,
                       BodyFn body) const = 0;

  /// Each thread folds its share of [lb, ub) into `init` with `body`; the
  /// partial values are then combined across the threads. Every thread gets
  /// the results.
  virtual SmallVector<Value> reduce(ImplicitLocOpBuilder &b, Value lb,
                                    Value ub, ValueRange init,
                                    ArrayRef<Reduction> kinds,
                                    IterBodyFn body) const = 0;

  /// Runs `body` on one thread of the group.
  virtual void single(ImplicitLocOpBuilder &b,
                      function_ref<void(ImplicitLocOpBuilder &)> body) const = 0;
};

/// One thread: loops run in order.
class SingleThreadGroup : public ThreadGroup {
public:
  void forEach(ImplicitLocOpBuilder &b, Value lb, Value ub,
               BodyFn body) const override;
  SmallVector<Value> reduce(ImplicitLocOpBuilder &b, Value lb, Value ub,
                            ValueRange init, ArrayRef<Reduction> kinds,
                            IterBodyFn body) const override;
  void single(ImplicitLocOpBuilder &b,
              function_ref<void(ImplicitLocOpBuilder &)> body) const override;
};

/// How the items of an op map to threads.
enum class ItemKind {
  /// An item is a few scalar steps: one thread each.
  Thread,
  /// An item is a reduction or a wide row: a block of threads each on a GPU.
  Block,
};

/// Adds one to counter `index` (an index in [0, size)) of a count buffer.
using CountFn = function_ref<void(ImplicitLocOpBuilder &, Value index)>;

class LoweringTarget {
public:
  virtual ~LoweringTarget() = default;

  /// Fails, with a diagnostic at `op`, when the target cannot lower `op`
  /// (a shape past one of its limits).
  virtual LogicalResult checkSupported(Operation *op) const { return success(); }

  using ItemBodyFn = function_ref<void(ImplicitLocOpBuilder &,
                                       const ThreadGroup &, Value item)>;

  /// Runs `body` for every item in [0, n); the items are independent.
  /// `name` names the work (a GPU kernel).
  virtual void forEachItem(ImplicitLocOpBuilder &b, StringRef name, Value n,
                           ItemKind kind, ItemBodyFn body) const = 0;

  /// Sets `counts` (rank 1, integer) to the counts that `body(item, add)`
  /// adds for the items in [0, n). Counting commutes: the result does not
  /// depend on the order of the items.
  virtual void count(ImplicitLocOpBuilder &b, StringRef name, Value counts,
                     Value n,
                     function_ref<void(ImplicitLocOpBuilder &, Value item,
                                       CountFn add)>
                         body) const = 0;

  /// Sets every element of a rank-1 buffer to `value`.
  virtual void fill(ImplicitLocOpBuilder &b, StringRef name, Value memref,
                    TypedAttr value) const = 0;

  /// Runs `body(t, j, e)` for each pair (t, j) of a [T, K] index buffer whose
  /// expert e (an index) is in [0, numExperts): the pairs of one expert in
  /// ascending (t, j), those of different experts in any order.
  virtual void forEachPairByExpert(
      ImplicitLocOpBuilder &b, StringRef name, Value indices,
      int64_t numExperts,
      function_ref<void(ImplicitLocOpBuilder &, Value t, Value j, Value e)>
          body) const = 0;

  /// A buffer that lives while the op runs, in memory the items can access.
  virtual Value allocScratch(ImplicitLocOpBuilder &b, MemRefType type) const = 0;
  virtual void releaseScratch(ImplicitLocOpBuilder &b, Value buffer) const = 0;

  /// Element 0 of a rank-1 scratch buffer, as a value of the host code.
  virtual Value loadScalar(ImplicitLocOpBuilder &b, Value buffer) const = 0;
};

/// The name of the work that lowers `op` (`moe_route_kernel`), or one step
/// of it (`moe_dispatch_scan_kernel`).
std::string getKernelName(Operation *op, StringRef step = "");

} // namespace mlir::moe

#endif // MOE_CONVERSION_MOECOMMON_TARGET_H

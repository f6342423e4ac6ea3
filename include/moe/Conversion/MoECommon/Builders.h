//===- Builders.h - structured-loop building helpers ------------*- C++ -*-===//
//
// Small helpers that emit scf loops and memref accesses with an
// ImplicitLocOpBuilder, shared by the CPU and GPU lowerings.
//
//===----------------------------------------------------------------------===//
#ifndef MOE_CONVERSION_MOECOMMON_BUILDERS_H
#define MOE_CONVERSION_MOECOMMON_BUILDERS_H

#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/ADT/STLFunctionalExtras.h"

namespace mlir::moe {

using BodyFn = function_ref<void(ImplicitLocOpBuilder &, Value)>;
using IterBodyFn =
    function_ref<SmallVector<Value>(ImplicitLocOpBuilder &, Value, ValueRange)>;

Value constIndex(ImplicitLocOpBuilder &b, int64_t value);
Value dimOf(ImplicitLocOpBuilder &b, Value memref, int64_t index);

/// for (iv = lb; iv < ub; iv += step) body(iv).
void emitFor(ImplicitLocOpBuilder &b, Value lb, Value ub, BodyFn body,
             Value step = {});
void emitFor(ImplicitLocOpBuilder &b, int64_t lb, Value ub, BodyFn body);
void emitFor(ImplicitLocOpBuilder &b, int64_t lb, int64_t ub, BodyFn body);

/// A loop carrying `init` through `body`; returns the final values.
SmallVector<Value> emitForIter(ImplicitLocOpBuilder &b, Value lb, Value ub,
                               ValueRange init, IterBodyFn body);
SmallVector<Value> emitForIter(ImplicitLocOpBuilder &b, int64_t lb, int64_t ub,
                               ValueRange init, IterBodyFn body);

/// if (cond) then().
void emitIf(ImplicitLocOpBuilder &b, Value cond,
            function_ref<void(ImplicitLocOpBuilder &)> then);

Value load(ImplicitLocOpBuilder &b, Value memref, ValueRange indices);
void store(ImplicitLocOpBuilder &b, Value value, Value memref,
           ValueRange indices);

/// index_cast between index and an integer type.
Value castIndex(ImplicitLocOpBuilder &b, Type type, Value value);

/// The element type of a memref value.
Type elementTypeOf(Value memref);

} // namespace mlir::moe

#endif // MOE_CONVERSION_MOECOMMON_BUILDERS_H

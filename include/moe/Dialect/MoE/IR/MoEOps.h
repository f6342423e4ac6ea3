//===- MoEOps.h - moe dialect operations ------------------------*- C++ -*-===//
#ifndef MOE_DIALECT_MOE_IR_MOEOPS_H
#define MOE_DIALECT_MOE_IR_MOEOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "moe/Dialect/MoE/IR/MoEDialect.h"

#include "moe/Dialect/MoE/IR/MoEEnums.h.inc"

namespace mlir::moe {

/// The expert-selection parameters of a topk or route op, with the
/// contract's defaults applied.
struct SelectionConfig {
  /// E: the number of experts (static).
  int64_t numExperts = 0;
  /// K: experts chosen per token.
  int64_t k = 0;
  /// G: expert groups; 1 when selection is not group-limited.
  int64_t numGroups = 1;
  /// Groups kept per token.
  int64_t topkGroups = 1;
  /// Keys summed into a group's score.
  int64_t groupTop = 1;

  /// Experts per group, E / G.
  int64_t groupSize() const { return numGroups > 0 ? numExperts / numGroups : 0; }
  bool isGroupLimited() const { return numGroups > 1; }

  /// Applies the defaults of the contract to the optional attributes.
  static SelectionConfig get(int64_t numExperts, int64_t k, int64_t numGroups,
                             std::optional<int64_t> topkGroups,
                             std::optional<int64_t> groupTop);
};

} // namespace mlir::moe

#define GET_OP_CLASSES
#include "moe/Dialect/MoE/IR/MoEOps.h.inc"

#endif // MOE_DIALECT_MOE_IR_MOEOPS_H

//===- TrainingToLoops.h - moe training ops to loops ------------*- C++ -*-===//
//
// The CPU lowering of the buffer forms of the training ops (route_grad,
// aux_loss, aux_loss_grad, route_aux_grad), used by convert-moe-to-loops.
//
//===----------------------------------------------------------------------===//
#ifndef MOE_CONVERSION_MOETOSCF_TRAININGTOLOOPS_H
#define MOE_CONVERSION_MOETOSCF_TRAININGTOLOOPS_H

namespace mlir {
class ConversionTarget;
class RewritePatternSet;
namespace moe {

/// Patterns lowering each `moe.buffer.*` training op to loops (one pattern
/// per op).
void populateMoETrainingToLoopsPatterns(RewritePatternSet &patterns);

/// Marks the `moe.buffer.*` training ops illegal.
void addMoETrainingIllegalOps(ConversionTarget &target);

} // namespace moe
} // namespace mlir

#endif // MOE_CONVERSION_MOETOSCF_TRAININGTOLOOPS_H

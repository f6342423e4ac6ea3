//===- TrainingToLoops.h - moe training ops to loops ------------*- C++ -*-===//
//
// The CPU lowering of the buffer forms of the training ops (route_grad,
// aux_loss, aux_loss_grad, route_aux_grad); populateMoEToLoopsPatterns
// includes them.
//
//===----------------------------------------------------------------------===//
#ifndef MOE_CONVERSION_MOETOSCF_TRAININGTOLOOPS_H
#define MOE_CONVERSION_MOETOSCF_TRAININGTOLOOPS_H

namespace mlir {
class RewritePatternSet;
namespace moe {

/// Patterns lowering each `moe.buffer.*` training op to loops (one pattern
/// per op).
void populateMoETrainingToLoopsPatterns(RewritePatternSet &patterns);

} // namespace moe
} // namespace mlir

#endif // MOE_CONVERSION_MOETOSCF_TRAININGTOLOOPS_H

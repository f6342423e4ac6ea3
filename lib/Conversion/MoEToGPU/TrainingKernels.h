//===- TrainingKernels.h - moe training ops to GPU kernels ------*- C++ -*-===//
#ifndef MOE_LIB_CONVERSION_MOETOGPU_TRAININGKERNELS_H
#define MOE_LIB_CONVERSION_MOETOGPU_TRAININGKERNELS_H

#include "mlir/IR/PatternMatch.h"

namespace mlir::moe {

/// The kernels of moe.buffer.{route_grad,aux_loss,aux_loss_grad,
/// route_aux_grad}: a warp per token, `warpsPerBlock` warps per block.
void populateMoETrainingToGPUPatterns(RewritePatternSet &patterns,
                                      int64_t warpsPerBlock);

} // namespace mlir::moe

#endif // MOE_LIB_CONVERSION_MOETOGPU_TRAININGKERNELS_H

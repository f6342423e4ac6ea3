//===- Passes.h - moe dialect transformation passes -------------*- C++ -*-===//
#ifndef MOE_DIALECT_MOE_TRANSFORMS_PASSES_H
#define MOE_DIALECT_MOE_TRANSFORMS_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
namespace moe {

#define GEN_PASS_DECL
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"

/// Adds the patterns of `--moe-fuse-routing` to `patterns`.
void populateFuseRoutingPatterns(RewritePatternSet &patterns);

/// Adds the patterns of `--moe-fuse-training` to `patterns`.
void populateFuseTrainingPatterns(RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"

} // namespace moe
} // namespace mlir

#endif // MOE_DIALECT_MOE_TRANSFORMS_PASSES_H

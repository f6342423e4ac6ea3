//===- InitAll.h - register everything moe provides -------------*- C++ -*-===//
//
// One entry point for tools and embedders: the moe dialect with its external
// interface models (bufferization), and every moe pass and pipeline.
//
//===----------------------------------------------------------------------===//
#ifndef MOE_INITALL_H
#define MOE_INITALL_H

namespace mlir {
class DialectRegistry;
namespace moe {

/// Registers the moe dialect and its external models (bufferization).
void registerAllDialects(DialectRegistry &registry);

/// Registers the moe passes (`--moe-fuse-routing`, `--convert-moe-to-loops`,
/// `--convert-moe-to-gpu`) and pipelines (`--moe-lower-to-cpu`,
/// `--moe-lower-to-nvvm`).
void registerAllPasses();

} // namespace moe
} // namespace mlir

#endif // MOE_INITALL_H

//===- InitAll.h - register everything moe provides -------------*- C++ -*-===//
//
// One entry point for tools and embedders: the moe dialect with its external
// interface models, everything that the moe lowering pipelines need from
// upstream MLIR, and every moe pass and pipeline.
//
//===----------------------------------------------------------------------===//
#ifndef MOE_INITALL_H
#define MOE_INITALL_H

namespace mlir {
class DialectRegistry;
namespace moe {

/// Registers the moe dialect and its external models (bufferization), and
/// what `--moe-lower-to-cpu`, `--moe-lower-to-nvvm` and
/// `--moe-lower-to-gpu-emulator` need to run on a module of moe, func,
/// arith, math, scf, cf, tensor, linalg, bufferization, memref, affine,
/// index and vector ops: those dialects, their bufferization and
/// deallocation models, their conversions to LLVM (ConvertToLLVM
/// interfaces, used by gpu-to-llvm and convert-gpu-to-nvvm), the NVVM
/// target, and the LLVM IR translations of the builtin, llvm, nvvm and gpu
/// dialects (kernels are translated to PTX; host code by mlir-translate).
/// Safe to combine with upstream's registerAllDialects/registerAllExtensions.
void registerAllDialects(DialectRegistry &registry);

/// Registers the moe passes (`--moe-fuse-routing`, `--convert-moe-to-loops`,
/// `--convert-moe-to-gpu`, `--moe-lower-subgroup-reduce`,
/// `--convert-nvvm-kernels-to-emulator`) and pipelines (`--moe-lower-to-cpu`,
/// `--moe-lower-to-nvvm`, `--moe-lower-to-gpu-emulator`) with the global
/// registry. The pipelines need no upstream pass registration.
void registerAllPasses();

} // namespace moe
} // namespace mlir

#endif // MOE_INITALL_H

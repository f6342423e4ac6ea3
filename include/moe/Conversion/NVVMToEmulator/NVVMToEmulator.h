//===- NVVMToEmulator.h - NVVM ops as GPU emulator calls --------*- C++ -*-===//
//
// Part of moe-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_CONVERSION_NVVMTOEMULATOR_NVVMTOEMULATOR_H
#define MOE_CONVERSION_NVVMTOEMULATOR_NVVMTOEMULATOR_H

namespace mlir {
class RewritePatternSet;
namespace moe {

/// Patterns rewriting NVVM special register reads, `nvvm.shfl.sync`,
/// `nvvm.redux.sync` on 32-bit integers and `nvvm.barrier0` (one pattern per
/// op) into calls of the GPU emulator's runtime
/// (include/moe/Runtime/GpuEmulatorABI.h). The runtime functions are
/// declared in the nearest enclosing `builtin.module`.
void populateNVVMToEmulatorPatterns(RewritePatternSet &patterns);

} // namespace moe
} // namespace mlir

#endif // MOE_CONVERSION_NVVMTOEMULATOR_NVVMTOEMULATOR_H

//===- LaunchToEmulator.h - gpu.launch_func as moeEmuLaunch -----*- C++ -*-===//
//
// Part of moe-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_NVVMTOEMULATOR_LAUNCHTOEMULATOR_H
#define MOE_LIB_CONVERSION_NVVMTOEMULATOR_LAUNCHTOEMULATOR_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "llvm/ADT/DenseMap.h"

#include <optional>
#include <string>

namespace mlir {
class RewritePatternSet;
namespace moe {

/// A kernel moved into the host module, as its launches need it.
struct EmulatedKernel {
  /// `void thunk(ptr params)`: loads the parameters and calls the kernel.
  LLVM::LLVMFuncOp thunk;
  /// The string "<module>::<kernel>", for the runtime's diagnostics.
  LLVM::GlobalOp name;
  /// The workgroup-memory globals that the kernel references.
  SmallVector<LLVM::GlobalOp> workgroupBuffers;
};

/// Emulated kernels by (gpu.module name, kernel name).
using EmulatedKernels =
    DenseMap<std::pair<StringAttr, StringAttr>, EmulatedKernel>;

/// Why `launch` cannot become a call of moeEmuLaunch, for the user; nullopt
/// when it can.
std::optional<std::string>
getLaunchRejection(gpu::LaunchFuncOp launch, const EmulatedKernels &kernels);

/// The pattern rewriting each gpu.launch_func of an emulated kernel into a
/// call of moeEmuLaunch.
void populateLaunchFuncToEmulatorPatterns(RewritePatternSet &patterns,
                                          const EmulatedKernels &kernels);

} // namespace moe
} // namespace mlir

#endif // MOE_LIB_CONVERSION_NVVMTOEMULATOR_LAUNCHTOEMULATOR_H

//===- RuntimeFunctions.h - GPU emulator entry points -----------*- C++ -*-===//
//
// Part of moe-mlir.
//
// The functions of include/moe/Runtime/GpuEmulatorABI.h as LLVM dialect
// declarations, shared by the NVVMToEmulator patterns and pass.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_NVVMTOEMULATOR_RUNTIMEFUNCTIONS_H
#define MOE_LIB_CONVERSION_NVVMTOEMULATOR_RUNTIMEFUNCTIONS_H

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir {
namespace moe {

/// An entry point of the GPU emulator's runtime library.
enum class RuntimeFunction {
  SpecialRegister,
  Shuffle,
  ShufflePredicate,
  Redux,
  Barrier,
  SharedAccess,
  Launch,
};

/// The C name of `function`, e.g. "moeEmuShuffle".
StringRef getRuntimeFunctionName(RuntimeFunction function);

/// The LLVM type of `function`.
LLVM::LLVMFunctionType getRuntimeFunctionType(MLIRContext *context,
                                              RuntimeFunction function);

/// The declaration of `function` in `module`, created at its end if missing.
/// Null when another symbol or a declaration of another type takes the name
/// (verifyRuntimeFunctionNames reports those).
LLVM::LLVMFuncOp lookupOrDeclareRuntimeFunction(OpBuilder &builder,
                                                ModuleOp module,
                                                RuntimeFunction function);

/// Reports each symbol of `module` that takes the name of a runtime function
/// without being its declaration.
LogicalResult verifyRuntimeFunctionNames(ModuleOp module);

/// True for NVVM's workgroup (shared) address space.
bool isWorkgroupAddressSpace(unsigned addressSpace);

Value createI32Constant(OpBuilder &builder, Location loc, int32_t value);
Value createI64Constant(OpBuilder &builder, Location loc, int64_t value);

} // namespace moe
} // namespace mlir

#endif // MOE_LIB_CONVERSION_NVVMTOEMULATOR_RUNTIMEFUNCTIONS_H

//===- RuntimeFunctions.cpp - GPU emulator entry points -------------------===//
//
// Part of moe-mlir.
//
//===----------------------------------------------------------------------===//

#include "RuntimeFunctions.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/Builders.h"

#include <iterator>

using namespace mlir;
using namespace mlir::moe;

/// Names by RuntimeFunction, in its order.
static constexpr StringLiteral kNames[] = {
    "moeEmuSpecialRegister", "moeEmuShuffle", "moeEmuShufflePredicate",
    "moeEmuRedux",           "moeEmuBarrier", "moeEmuSharedAccess",
    "moeEmuLaunch"};
static_assert(std::size(kNames) ==
                  static_cast<size_t>(RuntimeFunction::Launch) + 1,
              "one name per runtime function");

StringRef moe::getRuntimeFunctionName(RuntimeFunction function) {
  return kNames[static_cast<size_t>(function)];
}

LLVM::LLVMFunctionType moe::getRuntimeFunctionType(MLIRContext *context,
                                                   RuntimeFunction function) {
  Type i32 = IntegerType::get(context, 32);
  Type i64 = IntegerType::get(context, 64);
  Type ptr = LLVM::LLVMPointerType::get(context);
  Type none = LLVM::LLVMVoidType::get(context);
  switch (function) {
  case RuntimeFunction::SpecialRegister:
    return LLVM::LLVMFunctionType::get(i32, {i32});
  case RuntimeFunction::Shuffle:
    return LLVM::LLVMFunctionType::get(i32, {i32, i32, i32, i32, i32});
  case RuntimeFunction::ShufflePredicate:
    return LLVM::LLVMFunctionType::get(i32, {});
  case RuntimeFunction::Redux:
    return LLVM::LLVMFunctionType::get(i32, {i32, i32, i32});
  case RuntimeFunction::Barrier:
    return LLVM::LLVMFunctionType::get(none, {});
  case RuntimeFunction::SharedAccess:
    return LLVM::LLVMFunctionType::get(none, {ptr, i64, i32});
  case RuntimeFunction::Launch:
    return LLVM::LLVMFunctionType::get(none, {ptr, ptr, ptr, i64, i64, i64,
                                              i64, i64, i64, i32, ptr, ptr,
                                              i32});
  }
  llvm_unreachable("unknown runtime function");
}

LLVM::LLVMFuncOp moe::lookupOrDeclareRuntimeFunction(OpBuilder &builder,
                                                     ModuleOp module,
                                                     RuntimeFunction function) {
  StringRef name = getRuntimeFunctionName(function);
  LLVM::LLVMFunctionType type =
      getRuntimeFunctionType(module.getContext(), function);
  if (Operation *existing = module.lookupSymbol(name)) {
    auto func = dyn_cast<LLVM::LLVMFuncOp>(existing);
    return func && func.getFunctionType() == type ? func : nullptr;
  }
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToEnd(module.getBody());
  return LLVM::LLVMFuncOp::create(builder, module.getLoc(), name, type);
}

LogicalResult moe::verifyRuntimeFunctionNames(ModuleOp module) {
  bool valid = true;
  for (size_t index = 0; index < std::size(kNames); ++index) {
    auto function = static_cast<RuntimeFunction>(index);
    StringRef name = kNames[index];
    Operation *existing = module.lookupSymbol(name);
    if (!existing)
      continue;
    LLVM::LLVMFunctionType type =
        getRuntimeFunctionType(module.getContext(), function);
    auto func = dyn_cast<LLVM::LLVMFuncOp>(existing);
    if (func && func.getFunctionType() == type)
      continue;
    valid = false;
    if (func) {
      func.emitError() << "'" << name << "' is declared with type "
                       << func.getFunctionType()
                       << ", the GPU emulator's is " << type;
    } else {
      existing->emitError()
          << "'" << name
          << "' is a symbol of the module and an entry point of the GPU "
             "emulator";
    }
  }
  return success(valid);
}

bool moe::isWorkgroupAddressSpace(unsigned addressSpace) {
  return addressSpace == static_cast<unsigned>(NVVM::NVVMMemorySpace::Shared);
}

Value moe::createI32Constant(OpBuilder &builder, Location loc, int32_t value) {
  return LLVM::ConstantOp::create(builder, loc, builder.getI32Type(),
                                  builder.getI32IntegerAttr(value));
}

Value moe::createI64Constant(OpBuilder &builder, Location loc, int64_t value) {
  return LLVM::ConstantOp::create(builder, loc, builder.getI64Type(),
                                  builder.getI64IntegerAttr(value));
}

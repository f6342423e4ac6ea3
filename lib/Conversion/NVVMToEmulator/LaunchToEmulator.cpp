//===- LaunchToEmulator.cpp - gpu.launch_func as moeEmuLaunch -------------===//
//
// Part of moe-mlir.
//
//===----------------------------------------------------------------------===//

#include "LaunchToEmulator.h"

#include "RuntimeFunctions.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/DataLayoutInterfaces.h"

using namespace mlir;
using namespace mlir::moe;

std::optional<std::string>
moe::getLaunchRejection(gpu::LaunchFuncOp launch,
                        const EmulatedKernels &kernels) {
  std::string reason;
  llvm::raw_string_ostream os(reason);
  if (!kernels.contains(
          {launch.getKernelModuleName(), launch.getKernelName()}))
    os << "launches " << launch.getKernel()
       << ", which is not a kernel of a gpu.module (the GPU emulator needs "
          "its LLVM/NVVM code, not a gpu.binary)";
  else if (launch.hasClusterSize())
    os << "uses thread block clusters, which the GPU emulator does not "
          "provide";
  else if (!launch->getResults().empty())
    os << "returns an async token; the GPU emulator expects launches "
          "lowered by gpu-to-llvm";
  else if (auto operand = llvm::find_if(
               launch.getKernelOperands(),
               [](Value v) { return !LLVM::isCompatibleType(v.getType()); });
           operand != launch.getKernelOperands().end())
    os << "has operands of non-LLVM type '" << (*operand).getType()
       << "' (run gpu-to-llvm first)";
  else
    return std::nullopt;
  return reason;
}

namespace {

/// gpu.launch_func becomes moeEmuLaunch(name, thunk, params, grid, block,
/// dynamic shared bytes, workgroup buffers, their sizes, their count), with
/// the arrays on the stack for the duration of the launch.
struct LaunchFuncToCall : OpRewritePattern<gpu::LaunchFuncOp> {
  LaunchFuncToCall(MLIRContext *context, const EmulatedKernels &kernels)
      : OpRewritePattern(context), kernels(kernels) {}

  LogicalResult matchAndRewrite(gpu::LaunchFuncOp launch,
                                PatternRewriter &rewriter) const override;

private:
  const EmulatedKernels &kernels;
};

} // namespace

LogicalResult
LaunchFuncToCall::matchAndRewrite(gpu::LaunchFuncOp launch,
                                  PatternRewriter &rewriter) const {
  if (std::optional<std::string> reason = getLaunchRejection(launch, kernels))
    return rewriter.notifyMatchFailure(launch, *reason);
  auto module = launch->getParentOfType<ModuleOp>();
  LLVM::LLVMFuncOp callee =
      lookupOrDeclareRuntimeFunction(rewriter, module, RuntimeFunction::Launch);
  if (!callee)
    return rewriter.notifyMatchFailure(launch, "moeEmuLaunch is taken");
  EmulatedKernel kernel =
      kernels.at({launch.getKernelModuleName(), launch.getKernelName()});

  Location loc = launch.getLoc();
  Type i64 = rewriter.getI64Type();
  auto ptrType = LLVM::LLVMPointerType::get(rewriter.getContext());
  // array[index] = value.
  auto storeElement = [&](Value array, Type elementType, size_t index,
                          Value value) {
    LLVM::GEPArg position[] = {static_cast<int32_t>(index)};
    LLVM::StoreOp::create(rewriter, loc, value,
                          LLVM::GEPOp::create(rewriter, loc, ptrType,
                                              elementType, array, position));
  };
  auto stackArray = [&](Type elementType, size_t count) -> Value {
    return LLVM::AllocaOp::create(
        rewriter, loc, ptrType, elementType,
        createI64Constant(rewriter, loc, std::max<size_t>(count, 1)));
  };

  // Launches may sit in loops: the stack arrays live for one launch only.
  Value stack = LLVM::StackSaveOp::create(rewriter, loc, ptrType);
  Value one = createI64Constant(rewriter, loc, 1);
  ValueRange operands = launch.getKernelOperands();
  Value params = stackArray(ptrType, operands.size());
  for (auto [index, operand] : llvm::enumerate(operands)) {
    Value slot =
        LLVM::AllocaOp::create(rewriter, loc, ptrType, operand.getType(), one);
    LLVM::StoreOp::create(rewriter, loc, operand, slot);
    storeElement(params, ptrType, index, slot);
  }

  DataLayout layout = DataLayout::closest(launch);
  size_t numBuffers = kernel.workgroupBuffers.size();
  Value buffers = stackArray(ptrType, numBuffers);
  Value bufferBytes = stackArray(i64, numBuffers);
  for (auto [index, global] : llvm::enumerate(kernel.workgroupBuffers)) {
    storeElement(buffers, ptrType, index,
                 LLVM::AddressOfOp::create(rewriter, loc, global));
    auto bytes = static_cast<int64_t>(
        layout.getTypeSize(global.getGlobalType()).getFixedValue());
    storeElement(bufferBytes, i64, index,
                 createI64Constant(rewriter, loc, bytes));
  }

  auto toI64 = [&](Value value) -> Value {
    if (value.getType() == i64)
      return value;
    return LLVM::ZExtOp::create(rewriter, loc, i64, value);
  };
  Value dynamicShared = launch.getDynamicSharedMemorySize();
  if (!dynamicShared)
    dynamicShared = createI32Constant(rewriter, loc, 0);
  SmallVector<Value> args = {
      LLVM::AddressOfOp::create(rewriter, loc, kernel.name),
      LLVM::AddressOfOp::create(rewriter, loc, ptrType,
                                kernel.thunk.getSymName()),
      params,
      toI64(launch.getGridSizeX()),
      toI64(launch.getGridSizeY()),
      toI64(launch.getGridSizeZ()),
      toI64(launch.getBlockSizeX()),
      toI64(launch.getBlockSizeY()),
      toI64(launch.getBlockSizeZ()),
      dynamicShared,
      buffers,
      bufferBytes,
      createI32Constant(rewriter, loc, static_cast<int32_t>(numBuffers))};
  LLVM::CallOp::create(rewriter, loc, callee, args);
  LLVM::StackRestoreOp::create(rewriter, loc, stack);
  rewriter.eraseOp(launch);
  return success();
}

void moe::populateLaunchFuncToEmulatorPatterns(RewritePatternSet &patterns,
                                               const EmulatedKernels &kernels) {
  patterns.add<LaunchFuncToCall>(patterns.getContext(), kernels);
}

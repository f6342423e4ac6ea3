//===- KernelPointerArgs.cpp - kernels take pointers and dynamic values ---===//
//
// Part of moe-mlir.
//
// A memref kernel argument is passed as its whole descriptor (allocated and
// aligned pointer, offset, sizes, strides): 7 parameters for a rank-2
// buffer, most of them fields that the type already fixes and the kernel
// never reads. Upstream's bare-pointer convention passes one pointer, but
// only for memrefs of static shape. This pass makes every kernel argument
// static: a memref of dynamic shape, offset or strides becomes a
// one-element memref (its aligned pointer) plus an index argument per
// dynamic value, and the kernel rebuilds the original memref with
// memref.reinterpret_cast. With both sides lowered with bare pointers, a
// kernel's parameters are then the buffers' pointers and the dynamic sizes.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir {
namespace moe {
#define GEN_PASS_DEF_KERNELPOINTERARGS
#include "moe/Conversion/Passes.h.inc"
} // namespace moe
} // namespace mlir

using namespace mlir;

namespace {

/// The dynamic values of a memref type, in the order the kernel takes them:
/// offset, sizes, strides.
struct DynamicFields {
  bool offset = false;
  SmallVector<unsigned> sizes, strides;
  size_t count() const { return offset + sizes.size() + strides.size(); }
};

/// Whether `type` needs rewriting, and what is dynamic in it; fails for
/// layouts that are not strided.
FailureOr<DynamicFields> getDynamicFields(MemRefType type) {
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(type.getStridesAndOffset(strides, offset)))
    return failure();
  DynamicFields fields;
  fields.offset = ShapedType::isDynamic(offset);
  for (auto [i, size] : llvm::enumerate(type.getShape()))
    if (ShapedType::isDynamic(size))
      fields.sizes.push_back(i);
  for (auto [i, stride] : llvm::enumerate(strides))
    if (ShapedType::isDynamic(stride))
      fields.strides.push_back(i);
  return fields;
}

/// The one-element memref that carries the aligned pointer of `type`.
MemRefType getCarrierType(MemRefType type) {
  return MemRefType::get({1}, type.getElementType(),
                         MemRefLayoutAttrInterface(), type.getMemorySpace());
}

struct KernelPointerArgsPass
    : public moe::impl::KernelPointerArgsBase<KernelPointerArgsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTableCollection symbols;
    SmallVector<gpu::LaunchFuncOp> launches;
    module.walk([&](gpu::LaunchFuncOp launch) { launches.push_back(launch); });
    // Each kernel once, then every launch of it.
    DenseMap<Operation *, SmallVector<std::pair<unsigned, DynamicFields>>>
        rewritten;
    for (gpu::LaunchFuncOp launch : launches) {
      auto kernel = symbols.lookupNearestSymbolFrom<gpu::GPUFuncOp>(
          launch, launch.getKernel());
      if (!kernel || kernel.isExternal())
        continue;
      auto it = rewritten.find(kernel);
      if (it == rewritten.end()) {
        FailureOr<SmallVector<std::pair<unsigned, DynamicFields>>> args =
            rewriteKernel(kernel);
        if (failed(args))
          return signalPassFailure();
        it = rewritten.try_emplace(kernel, std::move(*args)).first;
      }
      rewriteLaunch(launch, it->second);
    }
  }

  /// Replaces the kernel's dynamic memref arguments by carriers and index
  /// arguments (appended); returns the replaced arguments.
  FailureOr<SmallVector<std::pair<unsigned, DynamicFields>>>
  rewriteKernel(gpu::GPUFuncOp kernel) {
    SmallVector<std::pair<unsigned, DynamicFields>> replaced;
    Block &entry = kernel.getBody().front();
    OpBuilder b = OpBuilder::atBlockBegin(&entry);
    unsigned numArgs = kernel.getNumArguments();
    for (unsigned i = 0; i < numArgs; ++i) {
      BlockArgument arg = entry.getArgument(i);
      auto type = dyn_cast<MemRefType>(arg.getType());
      if (!type)
        continue;
      FailureOr<DynamicFields> fields = getDynamicFields(type);
      if (failed(fields))
        return kernel.emitError()
               << "kernel argument " << i << " has a non-strided layout: "
               << type;
      if (fields->count() == 0)
        continue;
      Location loc = arg.getLoc();
      // After the function's arguments, before its attributions.
      SmallVector<Value> dynamic;
      for (size_t n = 0; n < fields->count(); ++n) {
        unsigned position = kernel.getNumArguments();
        (void)kernel.insertArgument(position, b.getIndexType(),
                                    DictionaryAttr(), loc);
        dynamic.push_back(entry.getArgument(position));
      }
      arg.setType(getCarrierType(type));
      // The original memref, from the carrier's aligned pointer.
      SmallVector<int64_t> strides;
      int64_t offset;
      (void)type.getStridesAndOffset(strides, offset);
      size_t next = 0;
      auto field = [&](int64_t value) -> OpFoldResult {
        if (ShapedType::isDynamic(value))
          return dynamic[next++];
        return b.getIndexAttr(value);
      };
      OpFoldResult offsetValue = field(offset);
      SmallVector<OpFoldResult> sizes, strideValues;
      for (int64_t size : type.getShape())
        sizes.push_back(field(size));
      for (int64_t stride : strides)
        strideValues.push_back(field(stride));
      auto view = memref::ReinterpretCastOp::create(
          b, loc, type, arg, offsetValue, sizes, strideValues);
      arg.replaceAllUsesExcept(view.getResult(), view);
      replaced.push_back({i, std::move(*fields)});
    }
    SmallVector<Type> argTypes;
    for (unsigned i = 0, e = kernel.getNumArguments(); i < e; ++i)
      argTypes.push_back(entry.getArgument(i).getType());
    kernel.setFunctionType(
        FunctionType::get(kernel.getContext(), argTypes, {}));
    return replaced;
  }

  /// Passes each replaced memref as its carrier and its dynamic values.
  void rewriteLaunch(gpu::LaunchFuncOp launch,
                     ArrayRef<std::pair<unsigned, DynamicFields>> replaced) {
    if (replaced.empty())
      return;
    OpBuilder b(launch);
    Location loc = launch.getLoc();
    SmallVector<Value> operands(launch.getKernelOperands());
    SmallVector<Value> extra;
    for (const auto &[i, fields] : replaced) {
      Value memref = operands[i];
      auto type = cast<MemRefType>(memref.getType());
      auto metadata =
          memref::ExtractStridedMetadataOp::create(b, loc, memref);
      if (fields.offset)
        extra.push_back(metadata.getOffset());
      for (unsigned d : fields.sizes)
        extra.push_back(metadata.getSizes()[d]);
      for (unsigned d : fields.strides)
        extra.push_back(metadata.getStrides()[d]);
      // Offset 0: the carrier keeps the aligned pointer; the kernel applies
      // the offset.
      operands[i] = memref::ReinterpretCastOp::create(
          b, loc, getCarrierType(type), memref, /*offset=*/0,
          /*sizes=*/ArrayRef<int64_t>{1}, /*strides=*/ArrayRef<int64_t>{1});
    }
    operands.append(extra);
    launch.getKernelOperandsMutable().assign(operands);
  }
};

} // namespace

//===- NVVMToEmulatorPass.cpp - NVVM kernels as host functions ------------===//
//
// Part of moe-mlir.
//
// `--convert-nvvm-kernels-to-emulator` takes a module whose host code is in
// the LLVM dialect and whose kernels are NVVM-level `gpu.module`s and makes
// it a host program that `moe_gpu_emulator` runs (docs/emulator.md):
//
//   * NVVM ops become runtime calls (populateNVVMToEmulatorPatterns); any
//     other NVVM op is an error;
//   * with race checking, workgroup-memory accesses are reported first;
//   * every function and global of a gpu.module moves into the host module
//     as `moe_emu.<module>.<symbol>`, with generic pointers only; libdevice
//     declarations (`__nv_*`) merge with the host's;
//   * each kernel gets a thunk that loads its parameters from a
//     cuLaunchKernel-style array, and each gpu.launch_func becomes a call of
//     moeEmuLaunch (populateLaunchFuncToEmulatorPatterns).
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/NVVMToEmulator/NVVMToEmulator.h"
#include "moe/Conversion/Passes.h"

#include "LaunchToEmulator.h"
#include "RuntimeFunctions.h"
#include "moe/Runtime/GpuEmulatorABI.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/AttrTypeSubElements.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/DataLayoutInterfaces.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SetVector.h"

namespace mlir {
namespace moe {
#define GEN_PASS_DEF_CONVERTNVVMKERNELSTOEMULATOR
#include "moe/Conversion/Passes.h.inc"
} // namespace moe
} // namespace mlir

using namespace mlir;
using namespace mlir::moe;

/// Host names of the symbols of gpu.modules: `<prefix><module>.<symbol>`.
static constexpr StringLiteral kSymbolPrefix = "moe_emu.";

/// A host symbol name that is not taken yet, based on `base`.
static std::string uniqueSymbol(ModuleOp module, const Twine &base) {
  std::string name = base.str();
  for (unsigned suffix = 1; module.lookupSymbol(name); ++suffix)
    name = (base + "." + Twine(suffix)).str();
  return name;
}

/// Applies `patterns` once to each of `ops`: no folding and no rewriting of
/// the ops the patterns create.
static void applyOnce(ArrayRef<Operation *> ops,
                      const FrozenRewritePatternSet &patterns) {
  GreedyRewriteConfig config;
  config.setStrictness(GreedyRewriteStrictness::ExistingOps)
      .enableFolding(false)
      .enableConstantCSE(false);
  // What the patterns leave is reported by the caller.
  (void)applyOpPatternsGreedily(ops, patterns, config);
}

/// Only LLVM functions and globals can move into the host module; dynamic
/// shared memory has no host counterpart.
static LogicalResult verifyMovable(gpu::GPUModuleOp gpuModule) {
  for (Operation &op : gpuModule.getBody()->getOperations()) {
    if (!isa<LLVM::LLVMFuncOp, LLVM::GlobalOp>(op))
      return op.emitOpError()
             << "cannot be emulated: the GPU emulator expects gpu.module "
                "kernels lowered to the LLVM and NVVM dialects (run "
                "convert-gpu-to-nvvm first)";
    if (auto global = dyn_cast<LLVM::GlobalOp>(op);
        global && global.getLinkage() == LLVM::Linkage::External &&
        !global.getValueOrNull() && global.getInitializerRegion().empty() &&
        isWorkgroupAddressSpace(global.getAddrSpace()))
      return global.emitOpError()
             << "is dynamic shared memory, which the GPU emulator does not "
                "provide";
  }
  return success();
}

/// Rewrites the NVVM ops of `gpuModules` into runtime calls and reports
/// those that the emulator does not provide.
static LogicalResult convertNVVMOps(ArrayRef<gpu::GPUModuleOp> gpuModules) {
  RewritePatternSet patterns(gpuModules.front()->getContext());
  populateNVVMToEmulatorPatterns(patterns);
  auto collect = [&] {
    SmallVector<Operation *> ops;
    for (gpu::GPUModuleOp gpuModule : gpuModules)
      gpuModule.walk([&](Operation *op) {
        if (isa_and_present<NVVM::NVVMDialect>(op->getDialect()))
          ops.push_back(op);
      });
    return ops;
  };
  applyOnce(collect(), FrozenRewritePatternSet(std::move(patterns)));

  SmallVector<Operation *> left = collect();
  for (Operation *op : left) {
    InFlightDiagnostic diag =
        op->emitOpError("cannot be run by the GPU emulator (it emulates ");
    if (isa<NVVM::ReduxOp>(op))
      diag << "redux.sync on 32-bit integers)";
    else
      diag << "special registers, shfl.sync, redux.sync and barrier0)";
  }
  return success(left.empty());
}

/// A workgroup pointer, or a generic one cast (and offset) from one.
static bool isWorkgroupPointer(Value pointer) {
  while (pointer) {
    auto type = dyn_cast<LLVM::LLVMPointerType>(pointer.getType());
    if (type && isWorkgroupAddressSpace(type.getAddressSpace()))
      return true;
    Operation *def = pointer.getDefiningOp();
    if (auto cast = dyn_cast_or_null<LLVM::AddrSpaceCastOp>(def))
      pointer = cast.getArg();
    else if (auto gep = dyn_cast_or_null<LLVM::GEPOp>(def))
      pointer = gep.getBase();
    else
      return false;
  }
  return false;
}

/// Reports every load, store and atomic of `gpuModule` on workgroup memory
/// to the runtime before it happens (race checking).
static void instrumentSharedAccesses(gpu::GPUModuleOp gpuModule,
                                     ModuleOp module) {
  struct Access {
    Operation *op;
    Value address;
    Type type;
    int32_t kind;
  };
  SmallVector<Access> accesses;
  gpuModule.walk([&](Operation *op) {
    if (auto load = dyn_cast<LLVM::LoadOp>(op))
      accesses.push_back(
          {op, load.getAddr(), load.getType(), MOE_EMU_ACCESS_READ});
    else if (auto store = dyn_cast<LLVM::StoreOp>(op))
      accesses.push_back({op, store.getAddr(), store.getValue().getType(),
                          MOE_EMU_ACCESS_WRITE});
    else if (auto rmw = dyn_cast<LLVM::AtomicRMWOp>(op))
      accesses.push_back(
          {op, rmw.getPtr(), rmw.getVal().getType(), MOE_EMU_ACCESS_ATOMIC});
    else if (auto cmpxchg = dyn_cast<LLVM::AtomicCmpXchgOp>(op))
      accesses.push_back({op, cmpxchg.getPtr(), cmpxchg.getVal().getType(),
                          MOE_EMU_ACCESS_ATOMIC});
  });
  llvm::erase_if(accesses, [](const Access &access) {
    return !isWorkgroupPointer(access.address);
  });
  if (accesses.empty())
    return;
  OpBuilder builder(module.getContext());
  LLVM::LLVMFuncOp callee = lookupOrDeclareRuntimeFunction(
      builder, module, RuntimeFunction::SharedAccess);
  assert(callee && "runtime function names are verified first");
  DataLayout layout = DataLayout::closest(gpuModule);
  for (const Access &access : accesses) {
    builder.setInsertionPoint(access.op);
    Location loc = access.op->getLoc();
    auto bytes = static_cast<int64_t>(
        layout.getTypeSize(access.type).getFixedValue());
    LLVM::CallOp::create(builder, loc, callee,
                         ValueRange{access.address,
                                    createI64Constant(builder, loc, bytes),
                                    createI32Constant(builder, loc,
                                                      access.kind)});
  }
}

/// Makes every pointer generic: the emulator has one address space.
static void stripAddressSpaces(Operation *root) {
  MLIRContext *ctx = root->getContext();
  AttrTypeReplacer replacer;
  replacer.addReplacement(
      [ctx](LLVM::LLVMPointerType type) -> std::optional<Type> {
        if (type.getAddressSpace() == 0)
          return std::nullopt;
        return LLVM::LLVMPointerType::get(ctx);
      });
  replacer.recursivelyReplaceElementsIn(root, /*replaceAttrs=*/true,
                                        /*replaceLocs=*/false,
                                        /*replaceTypes=*/true);
  IRRewriter rewriter(ctx);
  root->walk([&](Operation *op) {
    if (auto global = dyn_cast<LLVM::GlobalOp>(op))
      global.setAddrSpace(0);
    else if (auto cast = dyn_cast<LLVM::AddrSpaceCastOp>(op))
      rewriter.replaceOp(cast, cast.getArg());
  });
}

/// `void thunk(ptr params)`: loads the kernel's parameters from `params` (an
/// array of pointers to them, as gpu.launch_func packs them for
/// cuLaunchKernel) and calls it.
static LLVM::LLVMFuncOp createThunk(ModuleOp module, LLVM::LLVMFuncOp kernel,
                                    StringRef name) {
  MLIRContext *ctx = module.getContext();
  auto ptrType = LLVM::LLVMPointerType::get(ctx);
  auto voidType = LLVM::LLVMVoidType::get(ctx);
  OpBuilder builder(ctx);
  builder.setInsertionPointAfter(kernel);
  Location loc = kernel.getLoc();
  auto thunk = LLVM::LLVMFuncOp::create(
      builder, loc, name, LLVM::LLVMFunctionType::get(voidType, {ptrType}),
      LLVM::Linkage::Internal);
  Block *entry = thunk.addEntryBlock(builder);
  builder.setInsertionPointToStart(entry);
  Value params = entry->getArgument(0);
  SmallVector<Value> args;
  for (auto [index, type] :
       llvm::enumerate(kernel.getFunctionType().getParams())) {
    Value slot = LLVM::GEPOp::create(
        builder, loc, ptrType, ptrType, params,
        ArrayRef<LLVM::GEPArg>{static_cast<int32_t>(index)});
    Value address = LLVM::LoadOp::create(builder, loc, ptrType, slot);
    args.push_back(LLVM::LoadOp::create(builder, loc, type, address));
  }
  LLVM::CallOp::create(builder, loc, kernel, args);
  LLVM::ReturnOp::create(builder, loc, ValueRange{});
  return thunk;
}

static LLVM::GlobalOp createStringGlobal(ModuleOp module, Location loc,
                                         StringRef symbol, StringRef text) {
  OpBuilder builder = OpBuilder::atBlockBegin(module.getBody());
  std::string bytes = text.str();
  bytes.push_back('\0');
  auto type = LLVM::LLVMArrayType::get(builder.getI8Type(), bytes.size());
  return LLVM::GlobalOp::create(builder, loc, type, /*isConstant=*/true,
                                LLVM::Linkage::Private, symbol,
                                builder.getStringAttr(bytes));
}

static bool isKernel(LLVM::LLVMFuncOp func) {
  return func->hasAttr(gpu::GPUDialect::getKernelFuncAttrName()) ||
         func->hasAttr(NVVM::NVVMDialect::getKernelFuncAttrName()) ||
         func.getCConv() == LLVM::CConv::PTX_Kernel;
}

/// Moves the symbols of `gpuModule` into `module` and records its kernels in
/// `kernels`.
static LogicalResult moveIntoHost(gpu::GPUModuleOp gpuModule, ModuleOp module,
                                  EmulatedKernels &kernels) {
  MLIRContext *ctx = module.getContext();
  StringAttr moduleName = gpuModule.getNameAttr();

  // Kernels and the workgroup globals each one references, by their names in
  // the gpu.module.
  llvm::SmallDenseSet<StringAttr> workgroupNames;
  for (auto global : gpuModule.getOps<LLVM::GlobalOp>())
    if (isWorkgroupAddressSpace(global.getAddrSpace()))
      workgroupNames.insert(global.getSymNameAttr());
  struct Kernel {
    LLVM::LLVMFuncOp func;
    StringAttr name;
    SmallVector<StringAttr> buffers;
  };
  SmallVector<Kernel> kernelFuncs;
  for (auto func : gpuModule.getOps<LLVM::LLVMFuncOp>()) {
    if (!isKernel(func))
      continue;
    llvm::SetVector<StringAttr> used;
    func.walk([&](LLVM::AddressOfOp address) {
      StringAttr name = address.getGlobalNameAttr().getAttr();
      if (workgroupNames.contains(name))
        used.insert(name);
    });
    kernelFuncs.push_back({func, func.getSymNameAttr(),
                           SmallVector<StringAttr>(used.getArrayRef())});
  }

  stripAddressSpaces(gpuModule);

  // Definitions are renamed; declarations (libdevice) merge with the host's.
  llvm::DenseMap<StringAttr, Operation *> moved;
  for (Operation &op :
       llvm::make_early_inc_range(gpuModule.getBody()->getOperations())) {
    auto symbol = cast<SymbolOpInterface>(op);
    StringAttr oldName = symbol.getNameAttr();
    auto func = dyn_cast<LLVM::LLVMFuncOp>(op);
    if (func && func.isExternal()) {
      if (auto existing =
              module.lookupSymbol<LLVM::LLVMFuncOp>(oldName.getValue())) {
        if (existing.getFunctionType() != func.getFunctionType())
          return func.emitOpError()
                 << "is declared with another type on the host: "
                 << existing.getFunctionType();
        op.erase();
        continue;
      }
      if (module.lookupSymbol(oldName))
        return func.emitOpError() << "clashes with a host symbol";
      op.moveBefore(gpuModule);
      continue;
    }
    StringAttr newName = StringAttr::get(
        ctx, uniqueSymbol(module, kSymbolPrefix + moduleName.getValue() + "." +
                                      oldName.getValue()));
    if (failed(SymbolTable::replaceAllSymbolUses(oldName, newName, gpuModule)))
      return gpuModule.emitOpError("cannot rename symbol ") << oldName;
    symbol.setName(newName);
    if (func) {
      // Device attributes mean nothing on the host.
      for (NamedAttribute attr : llvm::to_vector(func->getDiscardableAttrs()))
        if (attr.getName().getValue().starts_with("nvvm.") ||
            attr.getName().getValue().starts_with("gpu."))
          func->removeAttr(attr.getName());
      func.setCConv(LLVM::CConv::C);
      func.setLinkage(LLVM::Linkage::Internal);
    } else {
      cast<LLVM::GlobalOp>(op).setLinkage(LLVM::Linkage::Internal);
    }
    op.moveBefore(gpuModule);
    moved[oldName] = &op;
  }

  for (auto &[func, kernelName, buffers] : kernelFuncs) {
    // `func` has its host name now; launches use the original one.
    EmulatedKernel kernel;
    kernel.thunk = createThunk(
        module, func, uniqueSymbol(module, func.getSymName() + ".thunk"));
    kernel.name = createStringGlobal(
        module, func.getLoc(),
        uniqueSymbol(module, func.getSymName() + ".name"),
        (moduleName.getValue() + "::" + kernelName.getValue()).str());
    for (StringAttr buffer : buffers)
      kernel.workgroupBuffers.push_back(cast<LLVM::GlobalOp>(moved[buffer]));
    kernels[{moduleName, kernelName}] = kernel;
  }
  return success();
}

/// Rewrites the launches of `module` into moeEmuLaunch calls and reports
/// those that cannot be.
static LogicalResult convertLaunches(ModuleOp module,
                                     const EmulatedKernels &kernels) {
  RewritePatternSet patterns(module.getContext());
  populateLaunchFuncToEmulatorPatterns(patterns, kernels);
  SmallVector<Operation *> launches;
  module.walk([&](gpu::LaunchFuncOp launch) { launches.push_back(launch); });
  applyOnce(launches, FrozenRewritePatternSet(std::move(patterns)));

  bool converted = true;
  module.walk([&](gpu::LaunchFuncOp launch) {
    converted = false;
    if (std::optional<std::string> reason = getLaunchRejection(launch, kernels))
      launch.emitOpError(*reason);
    else
      launch.emitOpError("cannot be emulated");
  });
  return success(converted);
}

namespace {
struct ConvertNVVMKernelsToEmulator
    : public moe::impl::ConvertNVVMKernelsToEmulatorBase<
          ConvertNVVMKernelsToEmulator> {
  using Base::Base;
  void runOnOperation() override;
};
} // namespace

void ConvertNVVMKernelsToEmulator::runOnOperation() {
  ModuleOp module = getOperation();
  if (failed(verifyRuntimeFunctionNames(module)))
    return signalPassFailure();
  auto gpuModules = llvm::to_vector(module.getOps<gpu::GPUModuleOp>());
  for (gpu::GPUModuleOp gpuModule : gpuModules)
    if (failed(verifyMovable(gpuModule)))
      return signalPassFailure();
  if (!gpuModules.empty() && failed(convertNVVMOps(gpuModules)))
    return signalPassFailure();
  if (raceCheck)
    for (gpu::GPUModuleOp gpuModule : gpuModules)
      instrumentSharedAccesses(gpuModule, module);

  EmulatedKernels kernels;
  for (gpu::GPUModuleOp gpuModule : gpuModules) {
    if (failed(moveIntoHost(gpuModule, module, kernels)))
      return signalPassFailure();
    gpuModule.erase();
  }
  if (failed(convertLaunches(module, kernels)))
    return signalPassFailure();
  module->removeAttr(gpu::GPUDialect::getContainerModuleAttrName());
}

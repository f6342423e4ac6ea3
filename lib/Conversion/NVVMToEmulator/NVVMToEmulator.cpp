//===- NVVMToEmulator.cpp - NVVM kernels as host functions ----------------===//
//
// Part of moe-mlir.
//
// `--convert-nvvm-kernels-to-emulator` takes a module whose host code is in
// the LLVM dialect and whose kernels are NVVM-level `gpu.module`s (the state
// of `--moe-lower-to-nvvm` right before `gpu-module-to-binary`) and makes it
// a plain host program that `moe_gpu_emulator` runs:
//
//   * every function and global of a gpu.module moves into the host module
//     under the name `moe_emu.<module>.<symbol>`; libdevice declarations
//     (`__nv_*`) stay external, the runtime library defines them;
//   * address spaces disappear (workgroup globals become host globals: the
//     emulator runs one block at a time);
//   * NVVM special registers, `shfl.sync` and `barrier0` become calls of the
//     runtime (include/moe/Runtime/GpuEmulatorABI.h); any other NVVM op is
//     an error, never silently dropped;
//   * each kernel gets a thunk `moe_emu.<module>.<kernel>.thunk(ptr params)`
//     that loads the parameters from a cuLaunchKernel-style array;
//   * each gpu.launch_func becomes a call of `moeEmuLaunch` with the thunk,
//     the packed parameters, the grid and block sizes and the kernel's
//     workgroup buffers.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"
#include "moe/Runtime/GpuEmulatorABI.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/AttrTypeSubElements.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/DataLayoutInterfaces.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir {
namespace moe {
#define GEN_PASS_DEF_CONVERTNVVMKERNELSTOEMULATOR
#include "moe/Conversion/Passes.h.inc"
} // namespace moe
} // namespace mlir

using namespace mlir;

namespace {

constexpr StringLiteral kSymbolPrefix = "moe_emu.";

/// What a launch needs to know about an emulated kernel.
struct EmulatedKernel {
  LLVM::LLVMFuncOp thunk;
  /// The string global holding "<module>::<kernel>" (for diagnostics).
  LLVM::GlobalOp name;
  /// Workgroup-memory globals that the kernel references.
  SmallVector<LLVM::GlobalOp> workgroupBuffers;
};

/// The runtime functions of GpuEmulatorABI.h, declared once in the host
/// module.
class RuntimeFunctions {
public:
  RuntimeFunctions(ModuleOp module) : module(module) {}

  FailureOr<LLVM::LLVMFuncOp> get(StringRef name, LLVM::LLVMFunctionType type) {
    if (auto existing = module.lookupSymbol<LLVM::LLVMFuncOp>(name)) {
      if (existing.getFunctionType() != type)
        return existing->emitError()
               << "'" << name << "' is declared with type "
               << existing.getFunctionType() << ", the GPU emulator's is "
               << type;
      return existing;
    }
    if (Operation *other = module.lookupSymbol(name))
      return other->emitError()
             << "'" << name
             << "' is a symbol of the module and an entry point of the GPU "
                "emulator";
    OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
    return LLVM::LLVMFuncOp::create(builder, module.getLoc(), name, type);
  }

private:
  ModuleOp module;
};

struct ConvertNVVMKernelsToEmulator
    : public moe::impl::ConvertNVVMKernelsToEmulatorBase<
          ConvertNVVMKernelsToEmulator> {
  using Base::Base;
  void runOnOperation() override;

private:
  LogicalResult moveModule(gpu::GPUModuleOp gpuModule,
                           RuntimeFunctions &runtime);
  LogicalResult rewriteLaunch(gpu::LaunchFuncOp launch,
                              RuntimeFunctions &runtime);

  /// (module, kernel) -> what its launches use.
  DenseMap<std::pair<StringAttr, StringAttr>, EmulatedKernel> kernels;
};

} // namespace

/// A host symbol name that is not taken yet, based on `base`.
static std::string uniqueSymbol(ModuleOp module, const Twine &base) {
  std::string name = base.str();
  for (unsigned suffix = 1; module.lookupSymbol(name); ++suffix)
    name = (base + "." + Twine(suffix)).str();
  return name;
}

static Value i32Constant(OpBuilder &builder, Location loc, int32_t value) {
  return LLVM::ConstantOp::create(builder, loc, builder.getI32Type(),
                                  builder.getI32IntegerAttr(value));
}

static Value i64Constant(OpBuilder &builder, Location loc, int64_t value) {
  return LLVM::ConstantOp::create(builder, loc, builder.getI64Type(),
                                  builder.getI64IntegerAttr(value));
}

/// True for NVVM's workgroup (shared) address space.
static bool isWorkgroupSpace(unsigned addressSpace) {
  return addressSpace == static_cast<unsigned>(NVVM::NVVMMemorySpace::Shared);
}

/// The GpuEmulatorABI.h code of an NVVM special register op, if it is one.
static std::optional<int32_t> specialRegister(Operation *op) {
  return llvm::TypeSwitch<Operation *, std::optional<int32_t>>(op)
      .Case([](NVVM::ThreadIdXOp) { return MOE_EMU_SREG_TID_X; })
      .Case([](NVVM::ThreadIdYOp) { return MOE_EMU_SREG_TID_Y; })
      .Case([](NVVM::ThreadIdZOp) { return MOE_EMU_SREG_TID_Z; })
      .Case([](NVVM::BlockDimXOp) { return MOE_EMU_SREG_NTID_X; })
      .Case([](NVVM::BlockDimYOp) { return MOE_EMU_SREG_NTID_Y; })
      .Case([](NVVM::BlockDimZOp) { return MOE_EMU_SREG_NTID_Z; })
      .Case([](NVVM::BlockIdXOp) { return MOE_EMU_SREG_CTAID_X; })
      .Case([](NVVM::BlockIdYOp) { return MOE_EMU_SREG_CTAID_Y; })
      .Case([](NVVM::BlockIdZOp) { return MOE_EMU_SREG_CTAID_Z; })
      .Case([](NVVM::GridDimXOp) { return MOE_EMU_SREG_NCTAID_X; })
      .Case([](NVVM::GridDimYOp) { return MOE_EMU_SREG_NCTAID_Y; })
      .Case([](NVVM::GridDimZOp) { return MOE_EMU_SREG_NCTAID_Z; })
      .Case([](NVVM::LaneIdOp) { return MOE_EMU_SREG_LANEID; })
      .Case([](NVVM::WarpSizeOp) { return MOE_EMU_SREG_WARPSIZE; })
      .Default([](Operation *) { return std::nullopt; });
}

static int32_t shuffleKind(NVVM::ShflKind kind) {
  switch (kind) {
  case NVVM::ShflKind::bfly:
    return MOE_EMU_SHFL_BFLY;
  case NVVM::ShflKind::up:
    return MOE_EMU_SHFL_UP;
  case NVVM::ShflKind::down:
    return MOE_EMU_SHFL_DOWN;
  case NVVM::ShflKind::idx:
    return MOE_EMU_SHFL_IDX;
  }
  llvm_unreachable("unknown shuffle kind");
}

/// The GpuEmulatorABI.h code of an integer redux.sync.
static std::optional<int32_t> reduxKind(NVVM::ReduxKind kind) {
  switch (kind) {
  case NVVM::ReduxKind::ADD:
    return MOE_EMU_REDUX_ADD;
  case NVVM::ReduxKind::AND:
    return MOE_EMU_REDUX_AND;
  case NVVM::ReduxKind::OR:
    return MOE_EMU_REDUX_OR;
  case NVVM::ReduxKind::XOR:
    return MOE_EMU_REDUX_XOR;
  case NVVM::ReduxKind::MIN:
    return MOE_EMU_REDUX_MIN;
  case NVVM::ReduxKind::MAX:
    return MOE_EMU_REDUX_MAX;
  case NVVM::ReduxKind::UMIN:
    return MOE_EMU_REDUX_UMIN;
  case NVVM::ReduxKind::UMAX:
    return MOE_EMU_REDUX_UMAX;
  default:
    return std::nullopt;
  }
}

/// A special register read becomes moeEmuSpecialRegister(code).
static LogicalResult rewriteSpecialRegister(Operation *op, int32_t which,
                                            RuntimeFunctions &runtime) {
  OpBuilder builder(op);
  Location loc = op->getLoc();
  Type i32 = builder.getI32Type();
  FailureOr<LLVM::LLVMFuncOp> callee = runtime.get(
      "moeEmuSpecialRegister", LLVM::LLVMFunctionType::get(i32, {i32}));
  if (failed(callee))
    return failure();
  Value value = LLVM::CallOp::create(builder, loc, *callee,
                                     i32Constant(builder, loc, which))
                    .getResult();
  op->getResult(0).replaceAllUsesWith(value);
  op->erase();
  return success();
}

/// shfl.sync becomes moeEmuShuffle on the value's bits (and
/// moeEmuShufflePredicate for the valid flag).
static LogicalResult rewriteShuffle(NVVM::ShflOp shuffle,
                                    RuntimeFunctions &runtime) {
  OpBuilder builder(shuffle);
  Location loc = shuffle.getLoc();
  Type i32 = builder.getI32Type();
  FailureOr<LLVM::LLVMFuncOp> callee =
      runtime.get("moeEmuShuffle",
                  LLVM::LLVMFunctionType::get(i32, {i32, i32, i32, i32, i32}));
  if (failed(callee))
    return failure();
  Value value = shuffle.getVal();
  Type valueType = value.getType();
  if (valueType != i32)
    value = LLVM::BitcastOp::create(builder, loc, i32, value);
  Value result =
      LLVM::CallOp::create(
          builder, loc, *callee,
          ValueRange{i32Constant(builder, loc, shuffleKind(shuffle.getKind())),
                     shuffle.getThreadMask(), value, shuffle.getOffset(),
                     shuffle.getMaskAndClamp()})
          .getResult();
  if (valueType != i32)
    result = LLVM::BitcastOp::create(builder, loc, valueType, result);
  if (shuffle.getReturnValueAndIsValid()) {
    FailureOr<LLVM::LLVMFuncOp> predicate = runtime.get(
        "moeEmuShufflePredicate", LLVM::LLVMFunctionType::get(i32, {}));
    if (failed(predicate))
      return failure();
    Value flag = LLVM::CallOp::create(builder, loc, *predicate, ValueRange{})
                     .getResult();
    Value valid = LLVM::ICmpOp::create(builder, loc, LLVM::ICmpPredicate::ne,
                                       flag, i32Constant(builder, loc, 0));
    Value pair = LLVM::PoisonOp::create(builder, loc, shuffle.getType());
    pair = LLVM::InsertValueOp::create(builder, loc, pair, result,
                                       ArrayRef<int64_t>{0});
    result = LLVM::InsertValueOp::create(builder, loc, pair, valid,
                                         ArrayRef<int64_t>{1});
  }
  shuffle.getResult().replaceAllUsesWith(result);
  shuffle.erase();
  return success();
}

/// An integer redux.sync becomes moeEmuRedux(kind, value, mask).
static LogicalResult rewriteRedux(NVVM::ReduxOp redux,
                                  RuntimeFunctions &runtime) {
  OpBuilder builder(redux);
  Location loc = redux.getLoc();
  Type i32 = builder.getI32Type();
  std::optional<int32_t> kind = reduxKind(redux.getKind());
  if (!kind || redux.getType() != i32)
    return redux.emitOpError("cannot be run by the GPU emulator (it emulates "
                             "redux.sync on 32-bit integers)");
  FailureOr<LLVM::LLVMFuncOp> callee = runtime.get(
      "moeEmuRedux", LLVM::LLVMFunctionType::get(i32, {i32, i32, i32}));
  if (failed(callee))
    return failure();
  Value result =
      LLVM::CallOp::create(builder, loc, *callee,
                           ValueRange{i32Constant(builder, loc, *kind),
                                      redux.getVal(), redux.getMaskAndClamp()})
          .getResult();
  redux.getResult().replaceAllUsesWith(result);
  redux.erase();
  return success();
}

/// barrier0 (or a barrier without operands) becomes moeEmuBarrier().
static LogicalResult rewriteBarrier(Operation *op, RuntimeFunctions &runtime) {
  OpBuilder builder(op);
  FailureOr<LLVM::LLVMFuncOp> callee = runtime.get(
      "moeEmuBarrier", LLVM::LLVMFunctionType::get(
                           LLVM::LLVMVoidType::get(op->getContext()), {}));
  if (failed(callee))
    return failure();
  LLVM::CallOp::create(builder, op->getLoc(), *callee, ValueRange{});
  op->erase();
  return success();
}

/// Replaces every NVVM op of `func` with runtime calls.
static LogicalResult rewriteNVVMOps(LLVM::LLVMFuncOp func,
                                    RuntimeFunctions &runtime) {
  SmallVector<Operation *> nvvmOps;
  func.walk([&](Operation *op) {
    if (isa<NVVM::NVVMDialect>(op->getDialect()))
      nvvmOps.push_back(op);
  });
  for (Operation *op : nvvmOps) {
    LogicalResult rewritten = failure();
    if (std::optional<int32_t> which = specialRegister(op))
      rewritten = rewriteSpecialRegister(op, *which, runtime);
    else if (auto shuffle = dyn_cast<NVVM::ShflOp>(op))
      rewritten = rewriteShuffle(shuffle, runtime);
    else if (auto redux = dyn_cast<NVVM::ReduxOp>(op))
      rewritten = rewriteRedux(redux, runtime);
    else if (isa<NVVM::Barrier0Op>(op) ||
             (isa<NVVM::BarrierOp>(op) && op->getNumOperands() == 0))
      rewritten = rewriteBarrier(op, runtime);
    else
      return op->emitOpError("cannot be run by the GPU emulator (it emulates "
                             "special registers, shfl.sync, redux.sync and "
                             "barrier0)");
    if (failed(rewritten))
      return failure();
  }
  return success();
}

/// Reports every load, store and atomic of `func` on workgroup memory to the
/// runtime before it happens (race checking).
static LogicalResult instrumentSharedAccesses(LLVM::LLVMFuncOp func,
                                              RuntimeFunctions &runtime) {
  MLIRContext *ctx = func.getContext();
  auto ptrType = LLVM::LLVMPointerType::get(ctx);
  Type i32 = IntegerType::get(ctx, 32);
  Type i64 = IntegerType::get(ctx, 64);
  // A workgroup pointer, or a generic one cast (and offset) from one.
  auto shared = [](Value pointer) {
    while (pointer) {
      auto type = dyn_cast<LLVM::LLVMPointerType>(pointer.getType());
      if (type && isWorkgroupSpace(type.getAddressSpace()))
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
  };
  SmallVector<std::tuple<Operation *, Value, Type, int32_t>> accesses;
  func.walk([&](Operation *op) {
    if (auto load = dyn_cast<LLVM::LoadOp>(op); load && shared(load.getAddr()))
      accesses.push_back(
          {op, load.getAddr(), load.getType(), MOE_EMU_ACCESS_READ});
    else if (auto store = dyn_cast<LLVM::StoreOp>(op);
             store && shared(store.getAddr()))
      accesses.push_back({op, store.getAddr(), store.getValue().getType(),
                          MOE_EMU_ACCESS_WRITE});
    else if (auto rmw = dyn_cast<LLVM::AtomicRMWOp>(op);
             rmw && shared(rmw.getPtr()))
      accesses.push_back(
          {op, rmw.getPtr(), rmw.getVal().getType(), MOE_EMU_ACCESS_ATOMIC});
    else if (auto cmpxchg = dyn_cast<LLVM::AtomicCmpXchgOp>(op);
             cmpxchg && shared(cmpxchg.getPtr()))
      accesses.push_back({op, cmpxchg.getPtr(), cmpxchg.getVal().getType(),
                          MOE_EMU_ACCESS_ATOMIC});
  });
  if (accesses.empty())
    return success();
  FailureOr<LLVM::LLVMFuncOp> callee =
      runtime.get("moeEmuSharedAccess",
                  LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx),
                                              {ptrType, i64, i32}));
  if (failed(callee))
    return failure();
  DataLayout layout = DataLayout::closest(func);
  for (auto [op, address, type, kind] : accesses) {
    OpBuilder builder(op);
    Location loc = op->getLoc();
    int64_t bytes =
        static_cast<int64_t>(layout.getTypeSize(type).getFixedValue());
    LLVM::CallOp::create(builder, loc, *callee,
                         ValueRange{address, i64Constant(builder, loc, bytes),
                                    i32Constant(builder, loc, kind)});
  }
  return success();
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
  root->walk([](Operation *op) {
    if (auto global = dyn_cast<LLVM::GlobalOp>(op)) {
      global.setAddrSpace(0);
      return;
    }
    if (auto cast = dyn_cast<LLVM::AddrSpaceCastOp>(op)) {
      cast.getResult().replaceAllUsesWith(cast.getArg());
      cast.erase();
    }
  });
}

/// Loads the kernel's parameters from `params` (an array of pointers to
/// them, as gpu.launch_func packs them for cuLaunchKernel) and calls it.
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

LogicalResult
ConvertNVVMKernelsToEmulator::moveModule(gpu::GPUModuleOp gpuModule,
                                         RuntimeFunctions &runtime) {
  ModuleOp module = getOperation();
  StringAttr moduleName = gpuModule.getNameAttr();

  // Only LLVM functions and globals can move; anything else means the
  // kernels were not lowered (convert-gpu-to-nvvm) yet.
  for (Operation &op : gpuModule.getBody()->getOperations()) {
    if (!isa<LLVM::LLVMFuncOp, LLVM::GlobalOp>(op))
      return op.emitOpError()
             << "cannot be emulated: the GPU emulator expects gpu.module "
                "kernels lowered to the LLVM and NVVM dialects (run "
                "convert-gpu-to-nvvm first)";
    if (auto global = dyn_cast<LLVM::GlobalOp>(op);
        global && global.getLinkage() == LLVM::Linkage::External &&
        !global.getValueOrNull() && global.getInitializerRegion().empty() &&
        isWorkgroupSpace(global.getAddrSpace()))
      return global.emitOpError()
             << "is dynamic shared memory, which the GPU emulator does not "
                "provide";
  }

  // Workgroup globals, by their symbol in the gpu.module.
  llvm::SmallDenseSet<StringAttr> workgroupNames;
  for (auto global : gpuModule.getOps<LLVM::GlobalOp>())
    if (isWorkgroupSpace(global.getAddrSpace()))
      workgroupNames.insert(global.getSymNameAttr());

  // Kernels and the workgroup globals each one references (before symbols
  // are renamed).
  struct KernelOp {
    LLVM::LLVMFuncOp func;
    StringAttr name;
    SmallVector<StringAttr> buffers;
  };
  SmallVector<KernelOp> kernelOps;
  for (auto func : gpuModule.getOps<LLVM::LLVMFuncOp>()) {
    if (!func->hasAttr(gpu::GPUDialect::getKernelFuncAttrName()) &&
        !func->hasAttr(NVVM::NVVMDialect::getKernelFuncAttrName()) &&
        func.getCConv() != LLVM::CConv::PTX_Kernel)
      continue;
    llvm::SetVector<StringAttr> used;
    func.walk([&](LLVM::AddressOfOp address) {
      StringAttr name = address.getGlobalNameAttr().getAttr();
      if (workgroupNames.contains(name))
        used.insert(name);
    });
    kernelOps.push_back({func, func.getSymNameAttr(),
                         SmallVector<StringAttr>(used.getArrayRef())});
  }

  for (auto func : gpuModule.getOps<LLVM::LLVMFuncOp>()) {
    if (func.isExternal())
      continue;
    if (failed(rewriteNVVMOps(func, runtime)) ||
        (raceCheck && failed(instrumentSharedAccesses(func, runtime))))
      return failure();
  }
  stripAddressSpaces(gpuModule);

  // Move the symbols, renaming the definitions; declarations (libdevice)
  // merge with the host's.
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
    std::string newName =
        uniqueSymbol(module, kSymbolPrefix + moduleName.getValue() + "." +
                                 oldName.getValue());
    StringAttr newNameAttr = StringAttr::get(&getContext(), newName);
    if (failed(
            SymbolTable::replaceAllSymbolUses(oldName, newNameAttr, gpuModule)))
      return gpuModule.emitOpError("cannot rename symbol ") << oldName;
    symbol.setName(newNameAttr);
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

  for (auto &[func, kernelName, buffers] : kernelOps) {
    // `func` has its host name now; launches use the original one.
    EmulatedKernel info;
    info.thunk = createThunk(
        module, func, uniqueSymbol(module, func.getSymName() + ".thunk"));
    info.name = createStringGlobal(
        module, func.getLoc(),
        uniqueSymbol(module, func.getSymName() + ".name"),
        (moduleName.getValue() + "::" + kernelName.getValue()).str());
    for (StringAttr buffer : buffers)
      info.workgroupBuffers.push_back(cast<LLVM::GlobalOp>(moved[buffer]));
    kernels[{moduleName, kernelName}] = info;
  }
  return success();
}

LogicalResult
ConvertNVVMKernelsToEmulator::rewriteLaunch(gpu::LaunchFuncOp launch,
                                            RuntimeFunctions &runtime) {
  auto it =
      kernels.find({launch.getKernelModuleName(), launch.getKernelName()});
  if (it == kernels.end())
    return launch.emitOpError()
           << "launches " << launch.getKernel()
           << ", which is not a kernel of a gpu.module (the GPU emulator "
              "needs its LLVM/NVVM code, not a gpu.binary)";
  EmulatedKernel kernel = it->second;
  if (launch.hasClusterSize())
    return launch.emitOpError("uses thread block clusters, which the GPU "
                              "emulator does not provide");
  if (!launch->getResults().empty())
    return launch.emitOpError("returns an async token; the GPU emulator "
                              "expects launches lowered by gpu-to-llvm");
  for (Value operand : launch.getKernelOperands())
    if (!LLVM::isCompatibleType(operand.getType()))
      return launch.emitOpError("has operands of non-LLVM type ")
             << operand.getType() << " (run gpu-to-llvm first)";

  MLIRContext *ctx = launch.getContext();
  Location loc = launch.getLoc();
  OpBuilder builder(launch);
  Type i32 = builder.getI32Type();
  Type i64 = builder.getI64Type();
  auto ptrType = LLVM::LLVMPointerType::get(ctx);
  auto voidType = LLVM::LLVMVoidType::get(ctx);

  FailureOr<LLVM::LLVMFuncOp> callee =
      runtime.get("moeEmuLaunch",
                  LLVM::LLVMFunctionType::get(
                      voidType, {ptrType, ptrType, ptrType, i64, i64, i64, i64,
                                 i64, i64, i32, ptrType, ptrType, i32}));
  if (failed(callee))
    return failure();

  // array[index] = value, for the stack arrays below.
  auto storeElement = [&](Value array, Type elementType, size_t index,
                          Value value) {
    LLVM::GEPArg position[] = {static_cast<int32_t>(index)};
    LLVM::StoreOp::create(builder, loc, value,
                          LLVM::GEPOp::create(builder, loc, ptrType,
                                              elementType, array, position));
  };

  // The parameter block lives on the stack for the duration of the launch
  // only (launches may sit in loops).
  Value stack = LLVM::StackSaveOp::create(builder, loc, ptrType);
  Value one = i64Constant(builder, loc, 1);
  auto stackArray = [&](Type elementType, size_t count) {
    return LLVM::AllocaOp::create(
        builder, loc, ptrType, elementType,
        i64Constant(builder, loc, std::max<size_t>(count, 1)));
  };

  ValueRange operands = launch.getKernelOperands();
  Value params = stackArray(ptrType, operands.size());
  for (auto [index, operand] : llvm::enumerate(operands)) {
    Value slot =
        LLVM::AllocaOp::create(builder, loc, ptrType, operand.getType(), one);
    LLVM::StoreOp::create(builder, loc, operand, slot);
    storeElement(params, ptrType, index, slot);
  }

  DataLayout layout = DataLayout::closest(launch);
  size_t numBuffers = kernel.workgroupBuffers.size();
  Value buffers = stackArray(ptrType, numBuffers);
  Value bufferBytes = stackArray(i64, numBuffers);
  for (auto [index, global] : llvm::enumerate(kernel.workgroupBuffers)) {
    storeElement(buffers, ptrType, index,
                 LLVM::AddressOfOp::create(builder, loc, global));
    int64_t bytes = static_cast<int64_t>(
        layout.getTypeSize(global.getGlobalType()).getFixedValue());
    storeElement(bufferBytes, i64, index, i64Constant(builder, loc, bytes));
  }

  auto toI64 = [&](Value value) -> Value {
    if (value.getType() == i64)
      return value;
    return LLVM::ZExtOp::create(builder, loc, i64, value);
  };
  Value dynamicShared = launch.getDynamicSharedMemorySize();
  if (!dynamicShared)
    dynamicShared = i32Constant(builder, loc, 0);
  SmallVector<Value> args = {
      LLVM::AddressOfOp::create(builder, loc, kernel.name),
      LLVM::AddressOfOp::create(builder, loc, ptrType,
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
      i32Constant(builder, loc, static_cast<int32_t>(numBuffers))};
  LLVM::CallOp::create(builder, loc, *callee, args);
  LLVM::StackRestoreOp::create(builder, loc, stack);
  launch.erase();
  return success();
}

void ConvertNVVMKernelsToEmulator::runOnOperation() {
  ModuleOp module = getOperation();
  RuntimeFunctions runtime(module);
  for (auto gpuModule :
       llvm::make_early_inc_range(module.getOps<gpu::GPUModuleOp>())) {
    if (failed(moveModule(gpuModule, runtime)))
      return signalPassFailure();
    gpuModule.erase();
  }
  SmallVector<gpu::LaunchFuncOp> launches;
  module.walk([&](gpu::LaunchFuncOp launch) { launches.push_back(launch); });
  for (gpu::LaunchFuncOp launch : launches)
    if (failed(rewriteLaunch(launch, runtime)))
      return signalPassFailure();
  module->removeAttr(gpu::GPUDialect::getContainerModuleAttrName());
}

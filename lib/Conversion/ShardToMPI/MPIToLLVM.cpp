//===- MPIToLLVM.cpp - mpi ops to calls of an MPI library -----------------===//
//
// Part of moe-mlir.
//
// Upstream's MPI-to-LLVM patterns, made usable by a pipeline: the ABI comes
// from a DLTI entry that a module may lack, mpi.comm_size has no pattern,
// the OpenMPI ABI names reduction operations that the library does not
// export, and the runner registers neither dlti nor shard.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"
#include "moe/Conversion/ShardToMPI/ShardToMPI.h"

#include "mlir/Conversion/LLVMCommon/ConversionTarget.h"
#include "mlir/Conversion/LLVMCommon/Pattern.h"
#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Conversion/MPIToLLVM/MPIToLLVM.h"
#include "mlir/Dialect/DLTI/DLTI.h"
#include "mlir/Dialect/LLVMIR/FunctionCallUtils.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MPI/IR/MPI.h"
#include "mlir/Dialect/Shard/IR/ShardDialect.h"
#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir {
namespace moe {
#define GEN_PASS_DEF_CONVERTMPITOLLVMWITHABI
#include "moe/Conversion/Passes.h.inc"
} // namespace moe
} // namespace mlir

using namespace mlir;

static constexpr StringLiteral kImplementationKey = "MPI:Implementation";

/// True when the DLTI entry that `op` sees names OpenMPI.
static bool usesOpenMPI(Operation *op) {
  FailureOr<Attribute> name = dlti::query(op, {kImplementationKey});
  if (failed(name))
    return false;
  auto string = dyn_cast<StringAttr>(*name);
  return string && string.getValue() == "OpenMPI";
}

namespace {
/// mpi.comm_size: MPI_Comm_size(comm, &size). The communicator is the i64
/// that upstream's type conversion makes of !mpi.comm: an int handle for
/// MPICH, a pointer for OpenMPI.
struct CommSizeOpLowering : public ConvertOpToLLVMPattern<mpi::CommSizeOp> {
  using ConvertOpToLLVMPattern::ConvertOpToLLVMPattern;

  LogicalResult
  matchAndRewrite(mpi::CommSizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    Type i32 = rewriter.getI32Type();
    auto ptrType = LLVM::LLVMPointerType::get(context);
    Value comm = adaptor.getComm();
    if (usesOpenMPI(op))
      comm = LLVM::IntToPtrOp::create(rewriter, loc, ptrType, comm);
    else
      comm = LLVM::TruncOp::create(rewriter, loc, i32, comm);

    auto module = op->getParentOfType<ModuleOp>();
    FailureOr<LLVM::LLVMFuncOp> callee = LLVM::lookupOrCreateFn(
        rewriter, module, "MPI_Comm_size", {comm.getType(), ptrType}, i32);
    if (failed(callee))
      return rewriter.notifyMatchFailure(op, "MPI_Comm_size has another type");
    Value one = LLVM::ConstantOp::create(rewriter, loc, i32, 1);
    Value sizePtr = LLVM::AllocaOp::create(rewriter, loc, ptrType, i32, one);
    auto call = LLVM::CallOp::create(rewriter, loc, *callee,
                                     ValueRange{comm, sizePtr});
    Value size = LLVM::LoadOp::create(rewriter, loc, i32, sizePtr);
    if (op.getRetval())
      rewriter.replaceOp(op, {call.getResult(), size});
    else
      rewriter.replaceOp(op, size);
    return success();
  }
};

struct ConvertMPIToLLVMWithABIPass
    : public moe::impl::ConvertMPIToLLVMWithABIBase<
          ConvertMPIToLLVMWithABIPass> {
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<DLTIDialect, LLVM::LLVMDialect, mpi::MPIDialect>();
    moe::registerMPIMemoryEffectsExternalModels(registry);
  }

  void runOnOperation() override;
};
} // namespace

/// Gives `module` the MPICH entry when no DLTI entry names the library.
static void addDefaultImplementation(ModuleOp module) {
  if (succeeded(dlti::query(module, {kImplementationKey})))
    return;
  MLIRContext *context = module.getContext();
  SmallVector<DataLayoutEntryInterface> entries;
  if (auto map = module->getAttrOfType<MapAttr>(DLTIDialect::kMapAttrName))
    llvm::append_range(entries, map.getEntries());
  entries.push_back(DataLayoutEntryAttr::get(
      StringAttr::get(context, kImplementationKey),
      StringAttr::get(context, "MPICH")));
  module->setAttr(DLTIDialect::kMapAttrName,
                  MapAttr::get(context, entries));
}

/// Removes the "MPI:..." entries of every `dlti.map`, and maps left empty.
static void dropMPIEntries(ModuleOp module) {
  module->walk([](Operation *op) {
    auto map = op->getAttrOfType<MapAttr>(DLTIDialect::kMapAttrName);
    if (!map)
      return;
    SmallVector<DataLayoutEntryInterface> kept;
    for (DataLayoutEntryInterface entry : map.getEntries()) {
      auto key = dyn_cast<StringAttr>(entry.getKey());
      if (!key || !key.getValue().starts_with("MPI:"))
        kept.push_back(entry);
    }
    if (kept.empty())
      op->removeAttr(DLTIDialect::kMapAttrName);
    else
      op->setAttr(DLTIDialect::kMapAttrName,
                  MapAttr::get(op->getContext(), kept));
  });
}

/// Upstream's OpenMPI ABI refers to the predefined operations as
/// `ompi_mpi_<op>`; OpenMPI's mpi.h defines MPI_SUM as &ompi_mpi_op_sum, and
/// the library exports only those names.
static LogicalResult renameOpenMPIOperations(ModuleOp module) {
  static constexpr StringLiteral kOperations[] = {
      "max",  "min", "sum",  "prod",   "land",   "band",    "lor",
      "bor",  "lxor", "bxor", "minloc", "maxloc", "replace", "no_op"};
  SymbolTable symbols(module);
  for (StringRef operation : kOperations) {
    std::string wrong = ("ompi_mpi_" + operation).str();
    auto global = symbols.lookup<LLVM::GlobalOp>(wrong);
    if (!global)
      continue;
    std::string right = ("ompi_mpi_op_" + operation).str();
    if (failed(symbols.rename(global, right)))
      return global.emitError("cannot rename '")
             << wrong << "' to '" << right << "'";
  }
  return success();
}

void ConvertMPIToLLVMWithABIPass::runOnOperation() {
  ModuleOp module = getOperation();
  MLIRContext *context = &getContext();
  addDefaultImplementation(module);
  bool openMPI = usesOpenMPI(module);

  LowerToLLVMOptions options(context);
  LLVMTypeConverter converter(context, options);
  RewritePatternSet patterns(context);
  mpi::populateMPIToLLVMConversionPatterns(converter, patterns);
  moe::populateMPICommSizeToLLVMPattern(converter, patterns);
  LLVMConversionTarget target(*context);
  target.addIllegalDialect<mpi::MPIDialect>();
  target.addLegalOp<UnrealizedConversionCastOp>();
  if (failed(applyPartialConversion(module, target, std::move(patterns))))
    return signalPassFailure();
  if (openMPI && failed(renameOpenMPIOperations(module)))
    return signalPassFailure();

  // Every collective is lowered: the grids are only names now.
  WalkResult result = module->walk([](Operation *op) {
    if (isa<shard::GridOp>(op) || !isa<shard::ShardDialect>(op->getDialect()))
      return WalkResult::advance();
    op->emitOpError("is left after the distributed lowering");
    return WalkResult::interrupt();
  });
  if (result.wasInterrupted())
    return signalPassFailure();
  for (auto grid : llvm::make_early_inc_range(module.getOps<shard::GridOp>()))
    grid.erase();
  dropMPIEntries(module);
}

void mlir::moe::populateMPICommSizeToLLVMPattern(LLVMTypeConverter &converter,
                                                 RewritePatternSet &patterns) {
  patterns.add<CommSizeOpLowering>(converter);
}

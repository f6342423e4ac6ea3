//===- Pipelines.cpp - moe lowering pipelines -----------------------------===//

#include "moe/Pipelines/Pipelines.h"

#include "moe/Conversion/Passes.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <optional>

using namespace mlir;
using namespace mlir::moe;

//===----------------------------------------------------------------------===//
// Targets
//===----------------------------------------------------------------------===//

namespace {
/// An NVPTX processor of LLVM 22 and the PTX version it is compiled to by
/// default, which is also the lowest one its backend accepts.
struct Chip {
  StringRef name;
  unsigned ptx;
};
} // namespace

// `llc -march=nvptx64 -mattr=help` lists the processors; `.version` in the
// output of `llc -mcpu=<chip>` gives each one's PTX version.
static const Chip kChips[] = {
    {"sm_75", 63},   {"sm_80", 70},   {"sm_86", 71},   {"sm_87", 74},
    {"sm_88", 90},   {"sm_89", 78},   {"sm_90", 78},   {"sm_90a", 80},
    {"sm_100", 86},  {"sm_100a", 86}, {"sm_100f", 88}, {"sm_101", 86},
    {"sm_101a", 86}, {"sm_101f", 88}, {"sm_103", 88},  {"sm_103a", 88},
    {"sm_103f", 88}, {"sm_110", 90},  {"sm_110a", 90}, {"sm_110f", 90},
    {"sm_120", 87},  {"sm_120a", 87}, {"sm_120f", 88}, {"sm_121", 88},
    {"sm_121a", 88}, {"sm_121f", 88},
};

ArrayRef<StringRef> mlir::moe::getSupportedChips() {
  static const SmallVector<StringRef> names = [] {
    SmallVector<StringRef> result;
    for (const Chip &chip : kChips)
      result.push_back(chip.name);
    return result;
  }();
  return names;
}

unsigned mlir::moe::getChipPTXVersion(StringRef chip) {
  for (const Chip &candidate : kChips)
    if (candidate.name == chip)
      return candidate.ptx;
  return 0;
}

/// Reports `message` through `errorHandler`, or on stderr without one.
static LogicalResult reportError(PipelineErrorHandler errorHandler,
                                 const Twine &message) {
  if (errorHandler)
    return errorHandler(message);
  llvm::errs() << "error: " << message << "\n";
  return failure();
}

/// Checks `chip`; on success returns the NVPTX features to compile with:
/// `features` as given, or the chip's PTX version when it is empty. Fails
/// on an unknown chip and on a PTX version below the chip's.
static FailureOr<std::string> resolveTarget(StringRef pipeline, StringRef chip,
                                            StringRef features,
                                            PipelineErrorHandler errorHandler) {
  unsigned chipPTX = getChipPTXVersion(chip);
  if (!chipPTX)
    return reportError(
        errorHandler,
        Twine("--") + pipeline + ": unknown chip '" + chip +
            "': write sm_<major><minor>, optionally followed by 'a' or 'f' "
            "(e.g. chip=sm_90 or chip=sm_90a), one of: " +
            llvm::join(getSupportedChips(), ", "));
  if (features.empty())
    return (Twine("+ptx") + Twine(chipPTX)).str();
  // The highest `+ptxNN` in the list decides the PTX version.
  unsigned ptx = 0;
  SmallVector<StringRef> parts;
  features.split(parts, ',', /*MaxSplit=*/-1, /*KeepEmpty=*/false);
  for (StringRef part : parts) {
    part = part.trim();
    unsigned version = 0;
    if (part.consume_front("+ptx") && !part.getAsInteger(10, version))
      ptx = std::max(ptx, version);
  }
  if (ptx && ptx < chipPTX)
    return reportError(errorHandler,
                       Twine("--") + pipeline + ": chip=" + chip +
                           " needs PTX " + Twine(chipPTX / 10) + "." +
                           Twine(chipPTX % 10) + " or later, but features=" +
                           features + " asks for " + Twine(ptx / 10) + "." +
                           Twine(ptx % 10) + ": write features=+ptx" +
                           Twine(chipPTX) + ", or leave features out");
  return features.str();
}

/// True for the architectures with redux.sync: sm_80 and later.
static bool chipHasRedux(StringRef chip) {
  unsigned version = 0;
  if (!chip.consume_front("sm_") || chip.consumeInteger(10, version))
    return false;
  return version >= 80;
}

/// The CUDA toolkit that provides ptxas and libdevice: the option, else
/// $CUDA_HOME or $CUDA_PATH, else /usr/local/cuda when it has ptxas. Empty
/// leaves the search to MLIR (its configured default, then PATH).
static std::string findCudaToolkit(StringRef option) {
  if (!option.empty())
    return option.str();
  for (const char *variable : {"CUDA_HOME", "CUDA_PATH"})
    if (const char *value = std::getenv(variable); value && *value)
      return value;
  if (llvm::sys::fs::can_execute("/usr/local/cuda/bin/ptxas"))
    return "/usr/local/cuda";
  return "";
}

/// The `format` option: bin, isa, fatbin or offloading (and upstream's
/// longer spellings).
static std::optional<gpu::CompilationTarget> parseFormat(StringRef format) {
  return llvm::StringSwitch<std::optional<gpu::CompilationTarget>>(format)
      .Cases({"bin", "binary"}, gpu::CompilationTarget::Binary)
      .Cases({"isa", "assembly"}, gpu::CompilationTarget::Assembly)
      .Cases({"fatbin", "fatbinary"}, gpu::CompilationTarget::Fatbin)
      .Cases({"offloading", "llvm"}, gpu::CompilationTarget::Offload)
      .Default(std::nullopt);
}

//===----------------------------------------------------------------------===//
// Kernel serialization
//===----------------------------------------------------------------------===//

namespace {
/// A diagnostic captured while the kernels are serialized.
struct CapturedDiagnostic {
  Location loc;
  DiagnosticSeverity severity;
  std::string message;
  SmallVector<std::pair<Location, std::string>> notes;
};

/// upstream's gpu-module-to-binary, for the NVVM pipeline: the same
/// serialization (gpu::transformGpuModulesToBinaries), with
/// - diagnostics that keep what ptxas or LLVM said and drop the dump of the
///   whole kernel module that an error on it would carry;
/// - optionally, each module's PTX written to `<ptxDir>/<module>.ptx`.
class SerializeKernelsPass
    : public PassWrapper<SerializeKernelsPass, OperationPass<ModuleOp>> {
public:
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(SerializeKernelsPass)

  SerializeKernelsPass(gpu::CompilationTarget format, std::string toolkit,
                       std::string ptxDir)
      : format(format), toolkit(std::move(toolkit)),
        ptxDir(std::move(ptxDir)) {}

  StringRef getArgument() const final { return "moe-serialize-kernels"; }
  StringRef getDescription() const final {
    return "gpu-module-to-binary with concise diagnostics and PTX files";
  }

  void runOnOperation() final {
    ModuleOp module = getOperation();

    // The serializer calls the ISA callback once per module and target, in
    // block order.
    SmallVector<std::string> ptxNames;
    for (auto kernels : module.getOps<gpu::GPUModuleOp>()) {
      ArrayAttr targets = kernels.getTargetsAttr();
      size_t count = targets ? targets.size() : 0;
      for (size_t i = 0; i < count; ++i)
        ptxNames.push_back(count == 1 ? kernels.getName().str()
                                      : (kernels.getName() + "." + Twine(i))
                                            .str());
    }
    size_t nextPTX = 0;
    bool writeFailed = false;
    auto writePTX = [&](StringRef ptx) {
      if (ptxDir.empty() || nextPTX >= ptxNames.size())
        return;
      SmallString<128> path(ptxDir);
      llvm::sys::path::append(path, ptxNames[nextPTX++] + ".ptx");
      std::error_code error = llvm::sys::fs::create_directories(ptxDir);
      std::string message;
      std::unique_ptr<llvm::ToolOutputFile> file =
          error ? nullptr : openOutputFile(path, &message);
      if (!file) {
        module.emitError() << "cannot write " << path << ": "
                           << (error ? error.message() : message);
        writeFailed = true;
        return;
      }
      file->os() << ptx;
      file->keep();
    };

    std::optional<SymbolTable> symbols;
    auto getSymbols = [&]() -> SymbolTable * {
      if (!symbols)
        symbols.emplace(module);
      return &*symbols;
    };
    gpu::TargetOptions options(toolkit, /*librariesToLink=*/{},
                               /*cmdOptions=*/{}, /*elfSection=*/{}, format,
                               getSymbols, {}, {}, {}, writePTX);

    SmallVector<CapturedDiagnostic> captured;
    LogicalResult result = success();
    {
      ScopedDiagnosticHandler handler(&getContext(), [&](Diagnostic &diag) {
        CapturedDiagnostic copy{diag.getLocation(), diag.getSeverity(),
                                diag.str(), {}};
        for (Diagnostic &note : diag.getNotes())
          if (!StringRef(note.str()).starts_with("see current operation"))
            copy.notes.emplace_back(note.getLocation(), note.str());
        captured.push_back(std::move(copy));
        return success();
      });
      result = gpu::transformGpuModulesToBinaries(module, nullptr, options);
    }
    for (CapturedDiagnostic &diag : captured) {
      InFlightDiagnostic out = [&] {
        switch (diag.severity) {
        case DiagnosticSeverity::Error:
          return mlir::emitError(diag.loc);
        case DiagnosticSeverity::Warning:
          return mlir::emitWarning(diag.loc);
        default:
          return mlir::emitRemark(diag.loc);
        }
      }();
      out << diag.message;
      for (auto &[loc, note] : diag.notes)
        out.attachNote(loc) << note;
    }
    if (failed(result) || writeFailed)
      signalPassFailure();
  }

private:
  gpu::CompilationTarget format;
  std::string toolkit;
  std::string ptxDir;
};
} // namespace

//===----------------------------------------------------------------------===//
// Pipelines
//===----------------------------------------------------------------------===//

/// Tensors to buffers: elementwise arith and math on tensors become
/// linalg.generic ops, moe ops become moe.buffer ops, function boundaries
/// take identity-layout memrefs, and loops may carry new allocations (a
/// training loop carries its bias from step to step). Deallocation is placed
/// here, on moe.buffer ops with exact memory effects: this is the entry point
/// that the CPU and GPU lowerings share.
static void addBufferization(OpPassManager &pm) {
  pm.addNestedPass<func::FuncOp>(createConvertElementwiseToLinalgPass());
  pm.addPass(bufferization::createEmptyTensorToAllocTensorPass());
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.allowReturnAllocsFromLoops = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  bufferization::buildBufferDeallocationPipeline(pm);
}

/// Structured host code to what the LLVM conversions expect: loops, the
/// clones that deallocation adds as copies, plain memref descriptors,
/// control flow.
static void addHostPreparation(OpPassManager &pm) {
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  pm.addPass(createConvertBufferizationToMemRefPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  addMPIToLLVM(pm);
}

/// Host code to the LLVM dialect. Vector ops go first: their lowering
/// creates arith ops (vector.print of an i32 extends it to i64). With
/// `openmp`, the omp ops (and the code in their regions) too.
static void addHostToLLVM(OpPassManager &pm, bool openmp = false) {
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addPass(arith::createArithExpandOpsPass(expand));
  pm.addPass(createConvertVectorToLLVMPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  if (openmp)
    pm.addPass(createConvertOpenMPToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void mlir::moe::buildLowerToCPUPipeline(OpPassManager &pm,
                                        const LowerToCPUOptions &options) {
  if (options.fuseRouting) {
    pm.addPass(createMoEFuseRouting());
    pm.addPass(createMoEFuseTraining());
  }
  addShardToMPI(pm);
  if (options.bufferize)
    addBufferization(pm);
  ConvertMoEToLoopsOptions toLoops;
  toLoops.parallel = options.parallel;
  toLoops.selection = options.selection;
  toLoops.targetCPU = options.targetCPU;
  pm.addPass(createConvertMoEToLoops(toLoops));
  pm.addPass(createCanonicalizerPass());
  if (options.parallel) {
    // The canonicalizer hoists the stack buffers of a chunk out of the
    // per-iteration memref.alloca_scope into the omp.parallel region (one
    // copy per thread), which leaves the scope empty and inlines it.
    pm.addPass(createConvertSCFToOpenMPPass());
    pm.addPass(createCanonicalizerPass());
  }
  addHostPreparation(pm);
  addHostToLLVM(pm, options.parallel);
}

namespace {
/// The NVVM target of the kernels; absent for the emulator, which compiles
/// no PTX.
struct NVVMTarget {
  std::string chip;
  std::string features;
  unsigned optLevel;
};
} // namespace

/// Up to NVVM kernels in gpu.modules and host code in the LLVM dialect: what
/// the NVVM and emulator pipelines share. `chip` decides whether warp
/// reductions use redux.sync.
static void addGPUKernelsAndHost(OpPassManager &pm, bool fuseRouting,
                                 bool bufferize, bool hostCopies,
                                 StringRef chip,
                                 const std::optional<NVVMTarget> &target) {
  bool redux = chipHasRedux(chip);
  if (fuseRouting) {
    pm.addPass(createMoEFuseRouting());
    pm.addPass(createMoEFuseTraining());
  }
  addShardToMPI(pm);
  if (bufferize)
    addBufferization(pm);
  ConvertMoEToGPUOptions toGPU;
  toGPU.hostCopies = hostCopies;
  toGPU.redux = redux;
  pm.addPass(createConvertMoEToGPU(toGPU));
  // Kernels are outlined into a gpu.module (with an NVVM target) before
  // anything folds: the canonicalizer would hoist their constants to the
  // host function's entry, and outlining would pass each as a kernel
  // parameter (shapes, group sizes and loop bounds the kernel no longer
  // sees as constants).
  pm.addPass(createGpuKernelOutliningPass());
  // Kernel parameters: pointers and dynamic sizes (bare pointers below).
  pm.addPass(createKernelPointerArgs());
  pm.addPass(createCanonicalizerPass());
  addHostPreparation(pm);

  // Kernels: NVVM.
  if (target) {
    GpuNVVMAttachTargetOptions attach;
    attach.chip = target->chip;
    attach.features = target->features;
    attach.optLevel = target->optLevel;
    pm.addPass(createGpuNVVMAttachTarget(attach));
  }
  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  LowerSubgroupReduceOptions subgroupReduce;
  subgroupReduce.redux = redux;
  kernels.addPass(createLowerSubgroupReduce(subgroupReduce));
  ConvertGpuOpsToNVVMOpsOptions toNVVM;
  toNVVM.hasRedux = redux;
  toNVVM.useBarePtrCallConv = true;
  kernels.addPass(createConvertGpuOpsToNVVMOps(toNVVM));
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createCSEPass());
  kernels.addPass(createReconcileUnrealizedCastsPass());

  // Host: copies and launches go on a stream (gpu-async-region), become
  // runtime calls (the mgpu* ABI), then LLVM.
  pm.addNestedPass<func::FuncOp>(createGpuAsyncRegionPass());
  GpuToLLVMConversionPassOptions toLLVM;
  toLLVM.kernelBarePtrCallConv = true;
  pm.addPass(createGpuToLLVMConversionPass(toLLVM));
  addHostToLLVM(pm);
}

LogicalResult
mlir::moe::buildLowerToNVVMPipeline(OpPassManager &pm,
                                    const LowerToNVVMOptions &options,
                                    PipelineErrorHandler errorHandler) {
  FailureOr<std::string> features = resolveTarget(
      "moe-lower-to-nvvm", options.chip, options.features, errorHandler);
  if (failed(features))
    return failure();
  std::optional<gpu::CompilationTarget> format = parseFormat(options.format);
  if (!format)
    return reportError(errorHandler,
                       "--moe-lower-to-nvvm: unknown format '" +
                           options.format +
                           "': write bin, isa, fatbin or offloading");
  addGPUKernelsAndHost(
      pm, options.fuseRouting, options.bufferize, options.hostCopies,
      options.chip, NVVMTarget{options.chip, *features, options.optLevel});
  // The kernels become a gpu.binary (ptxas runs here for cubins).
  pm.addPass(std::make_unique<SerializeKernelsPass>(
      *format, findCudaToolkit(options.toolkit), options.ptxDir));
  return success();
}

LogicalResult mlir::moe::buildLowerToGPUEmulatorPipeline(
    OpPassManager &pm, const LowerToGPUEmulatorOptions &options,
    PipelineErrorHandler errorHandler) {
  if (failed(resolveTarget("moe-lower-to-gpu-emulator", options.chip,
                           /*features=*/"", errorHandler)))
    return failure();
  addGPUKernelsAndHost(pm, options.fuseRouting, options.bufferize,
                       options.hostCopies, options.chip,
                       /*target=*/std::nullopt);
  // The kernels join the host code, to be run by moe_gpu_emulator.
  ConvertNVVMKernelsToEmulatorOptions emulator;
  emulator.raceCheck = options.raceCheck;
  pm.addPass(createConvertNVVMKernelsToEmulator(emulator));
  pm.addPass(createCanonicalizerPass());
  return success();
}

//===----------------------------------------------------------------------===//
// Registration
//===----------------------------------------------------------------------===//

/// Registers `--<name>` with options `Options`: an option string that does
/// not parse is reported with the valid option names, and `build` reports
/// bad option values.
template <typename Options>
static void registerPipeline(
    StringRef name, StringRef description,
    std::function<LogicalResult(OpPassManager &, const Options &,
                                PipelineErrorHandler)>
        build) {
  std::string arg = name.str();
  registerPassPipeline(
      name, description,
      [arg, build](OpPassManager &pm, StringRef text,
                   PipelineErrorHandler errorHandler) -> LogicalResult {
        Options options;
        std::string message;
        llvm::raw_string_ostream os(message);
        if (failed(options.parseFromString(text, os))) {
          StringRef reason = StringRef(message).trim();
          reason.consume_front("<Pass-Options-Parser>: ");
          // A bad value of a known option: the option's parser has said
          // what it expected on stderr.
          std::string badValue = "bad option value in '" + text.str() + "'";
          if (reason.empty())
            reason = badValue;
          return reportError(
              errorHandler,
              Twine("--") + arg + ": " + reason +
                  "; the options are: " +
                  llvm::join(options.optionNames(), ", ") +
                  " (moe-opt --help describes them)");
        }
        return build(pm, options, errorHandler);
      },
      [](function_ref<void(const ::mlir::detail::PassOptions &)> print) {
        print(Options());
      });
}

void mlir::moe::registerPipelines() {
  registerPipeline<LowerToCPUOptions>(
      "moe-lower-to-cpu",
      "Lower moe (with func, arith, math, scf, tensor, linalg, bufferization "
      "and memref) to the LLVM dialect for the CPU",
      [](OpPassManager &pm, const LowerToCPUOptions &options,
         PipelineErrorHandler) {
        buildLowerToCPUPipeline(pm, options);
        return success();
      });
  registerPipeline<LowerToNVVMOptions>(
      "moe-lower-to-nvvm",
      "Lower moe to host LLVM dialect and NVVM kernels in gpu.binary",
      buildLowerToNVVMPipeline);
  registerPipeline<LowerToGPUEmulatorOptions>(
      "moe-lower-to-gpu-emulator",
      "Lower moe like --moe-lower-to-nvvm, with the NVVM kernels made host "
      "functions that the moe_gpu_emulator library runs on the CPU",
      buildLowerToGPUEmulatorPipeline);
}

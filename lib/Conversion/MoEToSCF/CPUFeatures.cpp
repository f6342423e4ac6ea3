//===- CPUFeatures.cpp - the CPU that lowered code is built for -----------===//
//
// The threshold selection gathers its candidates with vector compress-stores
// only where they are single instructions (AVX-512F); everywhere else a scan
// of the mask bits is faster. The CPU the code is built for is, in order of
// precedence: the pass's `target-cpu` option, the enclosing function's
// `target_features` (an explicit +avx512f or -avx512f) or `target_cpu`, the
// nearest enclosing `llvm.target` attribute (#llvm.target<triple, chip,
// features>), else the host that runs the compiler, which is also the CPU
// that mlir-runner's JIT compiles for.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMAttrs.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"
#include "llvm/TargetParser/X86TargetParser.h"

#include <optional>

using namespace mlir;
using namespace mlir::moe;

static constexpr StringLiteral kAVX512F = "avx512f";

/// Whether a feature list turns AVX-512F on or off, if it says.
static std::optional<bool> avx512FromFeatures(LLVM::TargetFeaturesAttr attr) {
  if (attr.nullOrEmpty())
    return std::nullopt;
  // LLVM applies the features in order: the last mention wins.
  std::optional<bool> result;
  for (StringAttr feature : attr.getFeatures()) {
    StringRef name = feature.getValue();
    if (name.size() > 1 && (name[0] == '+' || name[0] == '-') &&
        name.drop_front() == kAVX512F)
      result = name[0] == '+';
  }
  return result;
}

/// Whether the x86 CPU `chip` has AVX-512F (false for a name LLVM does not
/// know, like the generic "x86-64").
static bool x86ChipHasAVX512(StringRef chip) {
  SmallVector<StringRef> features;
  llvm::X86::getFeaturesForCPU(chip, features, /*NeedPlus=*/false);
  return llvm::is_contained(features, kAVX512F);
}

static bool targetHasAVX512(LLVM::TargetAttr target) {
  if (!llvm::Triple(target.getTriple().getValue()).isX86())
    return false;
  if (std::optional<bool> explicitly =
          avx512FromFeatures(target.getFeatures()))
    return *explicitly;
  return x86ChipHasAVX512(target.getChip().getValue());
}

static bool hostHasAVX512() {
  return llvm::sys::getHostCPUFeatures().lookup(kAVX512F);
}

CPUSelection mlir::moe::resolveCPUSelection(Operation *op,
                                            CPUSelection requested,
                                            StringRef targetCPU) {
  if (requested != CPUSelection::Auto)
    return requested;
  auto choose = [](bool avx512) {
    return avx512 ? CPUSelection::Compress : CPUSelection::Scan;
  };
  if (targetCPU == "native")
    return choose(hostHasAVX512());
  if (!targetCPU.empty())
    return choose(x86ChipHasAVX512(targetCPU));
  if (auto function = op->getParentOfType<FunctionOpInterface>()) {
    if (std::optional<bool> explicitly =
            avx512FromFeatures(LLVM::TargetFeaturesAttr::featuresAt(op)))
      return choose(*explicitly);
    if (auto cpu = function->getAttrOfType<StringAttr>("target_cpu"))
      return choose(x86ChipHasAVX512(cpu.getValue()));
  }
  for (Operation *parent = op->getParentOp(); parent;
       parent = parent->getParentOp())
    if (auto target = parent->getAttrOfType<LLVM::TargetAttr>(
            LLVM::LLVMDialect::getTargetAttrName()))
      return choose(targetHasAVX512(target));
  return choose(hostHasAVX512());
}

//===- Passes.h - moe conversion passes -------------------------*- C++ -*-===//
#ifndef MOE_CONVERSION_PASSES_H
#define MOE_CONVERSION_PASSES_H

#include "mlir/Pass/Pass.h"
#include "moe/Conversion/NVVMToEmulator/NVVMToEmulator.h"

#include <string>

namespace mlir {
class RewritePatternSet;
namespace moe {

/// How the CPU threshold selection gathers its candidates (the few experts
/// at or above the threshold) into a packed buffer.
enum class CPUSelection {
  /// From the target the code is built for (see resolveCPUSelection):
  /// Compress with AVX-512F, else Scan.
  Auto,
  /// Vector compress-stores: one instruction per chunk with AVX-512
  /// (`vpcompressd`), a branch per lane elsewhere.
  Compress,
  /// The chunk's mask as bits, then one scalar store per set bit (count
  /// trailing zeros): any target, work proportional to the candidates.
  Scan,
};

/// Options of the CPU lowering patterns (see --convert-moe-to-loops).
struct MoEToLoopsOptions {
  /// Token loops as scf.parallel loops over fixed chunks of tokens.
  bool parallel = false;
  CPUSelection selection = CPUSelection::Auto;
  /// The CPU the code is built for (an LLVM CPU name, `native` for the
  /// host); empty: the target attributes of the IR, else the host.
  std::string targetCPU;
};

#define GEN_PASS_DECL
#include "moe/Conversion/Passes.h.inc"

/// Patterns lowering each `moe.buffer.*` op to loops (one pattern per op).
void populateMoEToLoopsPatterns(RewritePatternSet &patterns,
                                const MoEToLoopsOptions &options = {});

/// The candidate gathering that `requested` means for code at `op`: Auto
/// becomes Compress when the target the code is built for has AVX-512F and
/// Scan otherwise. The target is `targetCPU` when given, else the
/// function's `target_features` or `target_cpu`, else the enclosing
/// `llvm.target`, else the host.
CPUSelection resolveCPUSelection(Operation *op, CPUSelection requested,
                                 StringRef targetCPU = "");

/// Patterns lowering each `moe.buffer.*` op to gpu.launch kernels (one
/// pattern per op); the buffers must be device memory. With `redux`, the
/// warp arg-max of the selection uses `gpu.subgroup_reduce` on integer rank
/// images (redux.sync: sm_80 and later, convert-gpu-to-nvvm{has-redux});
/// without it, xor shuffles.
void populateMoEToGPUPatterns(RewritePatternSet &patterns,
                              int64_t warpsPerBlock = 4, bool redux = true);

#define GEN_PASS_REGISTRATION
#include "moe/Conversion/Passes.h.inc"

} // namespace moe
} // namespace mlir

#endif // MOE_CONVERSION_PASSES_H

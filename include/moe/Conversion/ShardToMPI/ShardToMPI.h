//===- ShardToMPI.h - collectives of distributed moe programs ---*- C++ -*-===//
//
// Part of moe-mlir.
//
// What the distributed lowering adds to upstream's shard-to-MPI and
// MPI-to-LLVM conversions (docs/distributed.md).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_CONVERSION_SHARDTOMPI_SHARDTOMPI_H
#define MOE_CONVERSION_SHARDTOMPI_SHARDTOMPI_H

namespace mlir {
class DialectRegistry;
class LLVMTypeConverter;
class RewritePatternSet;
namespace moe {

/// Patterns rewriting `shard.all_reduce`, `shard.process_linear_index`,
/// `shard.process_multi_index` and `shard.grid_shape` on a 1-D grid of
/// dynamic size (`shape = ?`) into mpi ops on MPI_COMM_WORLD: such a grid
/// spans all ranks of the job (one pattern per op).
void populateShardWorldToMPIPatterns(RewritePatternSet &patterns);

/// The LLVM lowering of `mpi.comm_size` (a call of MPI_Comm_size with the
/// ABI that the module's DLTI entry "MPI:Implementation" names), which
/// upstream's MPI-to-LLVM patterns lack.
void populateMPICommSizeToLLVMPattern(LLVMTypeConverter &converter,
                                      RewritePatternSet &patterns);

/// Attaches MemoryEffectOpInterface to the synchronous mpi ops (init,
/// finalize, send, recv, allreduce, barrier, retval_check, error_class), so
/// that analyses and the ownership-based buffer deallocation see which
/// buffers they read and write. mpi.isend, mpi.irecv and mpi.wait stay
/// without: their buffers must live until the wait, which deallocation does
/// not model.
void registerMPIMemoryEffectsExternalModels(DialectRegistry &registry);

} // namespace moe
} // namespace mlir

#endif // MOE_CONVERSION_SHARDTOMPI_SHARDTOMPI_H

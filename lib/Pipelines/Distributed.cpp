//===- Distributed.cpp - the MPI part of the moe pipelines ----------------===//
//
// Part of moe-mlir.
//
// Programs that sum their counts across ranks (contract: "Counts summed
// across ranks") use upstream's shard and mpi collectives. The pipelines
// lower them in two places: the shard collectives to mpi ops on buffers
// before bufferization (so that deallocation sees them), the mpi ops to
// library calls with the other host conversions to LLVM.
//
//===----------------------------------------------------------------------===//

#include "moe/Pipelines/Pipelines.h"

#include "moe/Conversion/Passes.h"

#include "mlir/Conversion/ShardToMPI/ShardToMPI.h"
#include "mlir/Pass/PassManager.h"

using namespace mlir;

void mlir::moe::addShardToMPI(OpPassManager &pm) {
  // Dynamic 1-D grids first: upstream refuses them.
  pm.addPass(createConvertShardWorldToMPI());
  pm.addPass(createConvertShardToMPIPass());
}

void mlir::moe::addMPIToLLVM(OpPassManager &pm) {
  pm.addPass(createConvertMPIToLLVMWithABI());
}

//===- MemoryEffects.cpp - memory effects of the mpi ops ------------------===//
//
// Part of moe-mlir.
//
// Upstream's mpi ops declare no memory effects, and the ownership-based
// buffer deallocation refuses ops with unknown effects on memrefs ("ops with
// unknown memory side effects are not supported"). These external models say
// what each synchronous op does: it reads its send buffer, writes its receive
// buffer, and, for everything that talks to the library, writes the MPI state
// (the default resource), which keeps the calls in program order.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/ShardToMPI/ShardToMPI.h"

#include "mlir/Dialect/MPI/IR/MPI.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

using namespace mlir;

namespace {
using EffectList =
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>;

/// Calls that change the library's state and touch no buffer: mpi.init,
/// mpi.finalize, mpi.barrier.
template <typename OpTy>
struct LibraryStateEffects
    : public MemoryEffectOpInterface::ExternalModel<LibraryStateEffects<OpTy>,
                                                    OpTy> {
  void getEffects(Operation *op, EffectList &effects) const {
    effects.emplace_back(MemoryEffects::Write::get());
  }
};

/// Inspecting a return value: no effect.
template <typename OpTy>
struct NoEffects
    : public MemoryEffectOpInterface::ExternalModel<NoEffects<OpTy>, OpTy> {
  void getEffects(Operation *op, EffectList &effects) const {}
};

/// mpi.send: reads its buffer.
struct SendEffects
    : public MemoryEffectOpInterface::ExternalModel<SendEffects, mpi::SendOp> {
  void getEffects(Operation *op, EffectList &effects) const {
    auto send = cast<mpi::SendOp>(op);
    effects.emplace_back(MemoryEffects::Read::get(), &send.getRefMutable());
    effects.emplace_back(MemoryEffects::Write::get());
  }
};

/// mpi.recv: writes its buffer.
struct RecvEffects
    : public MemoryEffectOpInterface::ExternalModel<RecvEffects, mpi::RecvOp> {
  void getEffects(Operation *op, EffectList &effects) const {
    auto recv = cast<mpi::RecvOp>(op);
    effects.emplace_back(MemoryEffects::Write::get(), &recv.getRefMutable());
    effects.emplace_back(MemoryEffects::Write::get());
  }
};

/// mpi.allreduce: reads the send buffer, writes the receive buffer (the same
/// one when it reduces in place).
struct AllReduceEffects
    : public MemoryEffectOpInterface::ExternalModel<AllReduceEffects,
                                                    mpi::AllReduceOp> {
  void getEffects(Operation *op, EffectList &effects) const {
    auto allReduce = cast<mpi::AllReduceOp>(op);
    effects.emplace_back(MemoryEffects::Read::get(),
                         &allReduce.getSendbufMutable());
    effects.emplace_back(MemoryEffects::Write::get(),
                         &allReduce.getRecvbufMutable());
    effects.emplace_back(MemoryEffects::Write::get());
  }
};
} // namespace

void mlir::moe::registerMPIMemoryEffectsExternalModels(
    DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *context, mpi::MPIDialect *) {
    mpi::InitOp::attachInterface<LibraryStateEffects<mpi::InitOp>>(*context);
    mpi::FinalizeOp::attachInterface<LibraryStateEffects<mpi::FinalizeOp>>(
        *context);
    mpi::Barrier::attachInterface<LibraryStateEffects<mpi::Barrier>>(*context);
    mpi::RetvalCheckOp::attachInterface<NoEffects<mpi::RetvalCheckOp>>(
        *context);
    mpi::ErrorClassOp::attachInterface<NoEffects<mpi::ErrorClassOp>>(*context);
    mpi::SendOp::attachInterface<SendEffects>(*context);
    mpi::RecvOp::attachInterface<RecvEffects>(*context);
    mpi::AllReduceOp::attachInterface<AllReduceEffects>(*context);
  });
}

//===- BufferizableOpInterfaceImpl.cpp - moe bufferization ----------------===//
//
// Every tensor-level moe op reads its operands and writes only its results,
// which bufferize to new identity-layout allocations. Each op becomes its
// destination-passing `moe.buffer.*` form writing into those allocations.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/Transforms/BufferizableOpInterfaceImpl.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/DialectRegistry.h"

using namespace mlir;
using namespace mlir::bufferization;
using namespace mlir::moe;

namespace {

/// The identity-layout buffer type of a tensor result.
static FailureOr<MemRefType> getResultBufferType(Value result,
                                                 const BufferizationOptions &options) {
  auto tensorType = cast<RankedTensorType>(result.getType());
  std::optional<Attribute> memorySpace =
      options.defaultMemorySpaceFn(tensorType);
  if (!memorySpace)
    return failure();
  return MemRefType::get(tensorType.getShape(), tensorType.getElementType(),
                         MemRefLayoutAttrInterface(), *memorySpace);
}

/// Builds the buffers of an op's operands and results while it bufferizes.
class BufferBuilder {
public:
  BufferBuilder(RewriterBase &rewriter, Operation *op,
                const BufferizationOptions &options,
                const BufferizationState &state)
      : rewriter(rewriter), op(op), options(options), state(state) {}

  /// The buffer of a tensor operand (null for an absent optional operand).
  FailureOr<Value> operand(Value tensor) {
    if (!tensor)
      return Value();
    return getBuffer(rewriter, tensor, options, state);
  }

  /// `memref.dim` of `buffer`, for a dynamic result extent.
  Value dim(Value buffer, int64_t index) {
    return memref::DimOp::create(rewriter, op->getLoc(), buffer, index);
  }

  /// A new allocation for `result`; `dynamicSizes` gives its dynamic
  /// extents in order.
  FailureOr<Value> allocate(Value result, ValueRange dynamicSizes = {}) {
    FailureOr<MemRefType> type = getResultBufferType(result, options);
    if (failed(type))
      return op->emitError("cannot determine the memory space of a result");
    return options.createAlloc(rewriter, op->getLoc(), *type, dynamicSizes);
  }

  /// The dynamic extents of a result whose dimensions are those of `buffer`
  /// where the result's are dynamic.
  SmallVector<Value> dynamicSizesLike(Value result, Value buffer) {
    SmallVector<Value> sizes;
    auto type = cast<ShapedType>(result.getType());
    for (int64_t i = 0, e = type.getRank(); i < e; ++i)
      if (type.isDynamicDim(i))
        sizes.push_back(dim(buffer, i));
    return sizes;
  }

  RewriterBase &rewriter;
  Operation *op;
  const BufferizationOptions &options;
  const BufferizationState &state;
};

/// The interface methods shared by every moe tensor op: operands are read,
/// never written, and every result is a new allocation aliasing no operand.
template <typename ConcreteModel, typename OpTy>
struct MoEOpBufferizationModel
    : public BufferizableOpInterface::ExternalModel<ConcreteModel, OpTy> {
  bool bufferizesToMemoryRead(Operation *, OpOperand &,
                              const AnalysisState &) const {
    return true;
  }
  bool bufferizesToMemoryWrite(Operation *, OpOperand &,
                               const AnalysisState &) const {
    return false;
  }
  AliasingValueList getAliasingValues(Operation *, OpOperand &,
                                      const AnalysisState &) const {
    return {};
  }
  bool bufferizesToAllocation(Operation *, Value) const { return true; }

  FailureOr<BufferLikeType>
  getBufferType(Operation *, Value value, const BufferizationOptions &options,
                const BufferizationState &, SmallVector<Value> &) const {
    FailureOr<MemRefType> type = getResultBufferType(value, options);
    if (failed(type))
      return failure();
    return cast<BufferLikeType>(*type);
  }
};

struct ScoreOpModel : MoEOpBufferizationModel<ScoreOpModel, ScoreOp> {
  LogicalResult bufferize(Operation *operation, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto op = cast<ScoreOp>(operation);
    BufferBuilder b(rewriter, op, options, state);
    FailureOr<Value> input = b.operand(op.getInput());
    if (failed(input))
      return failure();
    FailureOr<Value> output =
        b.allocate(op.getResult(), b.dynamicSizesLike(op.getResult(), *input));
    if (failed(output))
      return failure();
    BufferScoreOp::create(rewriter, op.getLoc(), op.getFunctionAttr(), *input,
                          *output);
    replaceOpWithBufferizedValues(rewriter, op, *output);
    return success();
  }
};

struct TopKOpModel : MoEOpBufferizationModel<TopKOpModel, TopKOp> {
  LogicalResult bufferize(Operation *operation, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto op = cast<TopKOp>(operation);
    BufferBuilder b(rewriter, op, options, state);
    FailureOr<Value> scores = b.operand(op.getScores());
    FailureOr<Value> bias = b.operand(op.getBias());
    if (failed(scores) || failed(bias))
      return failure();
    SmallVector<Value> rows = b.dynamicSizesLike(op.getWeights(), *scores);
    FailureOr<Value> weights = b.allocate(op.getWeights(), rows);
    FailureOr<Value> indices = b.allocate(op.getIndices(), rows);
    if (failed(weights) || failed(indices))
      return failure();
    BufferTopKOp::create(rewriter, op.getLoc(), *scores, *bias, *weights,
                         *indices, op.getKAttr(), op.getNumGroupsAttr(),
                         op.getTopkGroupsAttr(), op.getGroupTopAttr());
    replaceOpWithBufferizedValues(rewriter, op, {*weights, *indices});
    return success();
  }
};

struct NormalizeOpModel
    : MoEOpBufferizationModel<NormalizeOpModel, NormalizeOp> {
  LogicalResult bufferize(Operation *operation, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto op = cast<NormalizeOp>(operation);
    BufferBuilder b(rewriter, op, options, state);
    FailureOr<Value> weights = b.operand(op.getWeights());
    if (failed(weights))
      return failure();
    FailureOr<Value> output = b.allocate(
        op.getResult(), b.dynamicSizesLike(op.getResult(), *weights));
    if (failed(output))
      return failure();
    BufferNormalizeOp::create(rewriter, op.getLoc(), *weights, *output,
                              op.getScaleAttr());
    replaceOpWithBufferizedValues(rewriter, op, *output);
    return success();
  }
};

struct LoadOpModel : MoEOpBufferizationModel<LoadOpModel, LoadOp> {
  LogicalResult bufferize(Operation *operation, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto op = cast<LoadOp>(operation);
    BufferBuilder b(rewriter, op, options, state);
    FailureOr<Value> indices = b.operand(op.getIndices());
    FailureOr<Value> mask = b.operand(op.getMask());
    FailureOr<Value> counts = b.allocate(op.getCounts());
    if (failed(indices) || failed(mask) || failed(counts))
      return failure();
    BufferLoadOp::create(rewriter, op.getLoc(), *indices, *mask, *counts,
                         op.getNumExpertsAttr());
    replaceOpWithBufferizedValues(rewriter, op, *counts);
    return success();
  }
};

struct UpdateBiasOpModel
    : MoEOpBufferizationModel<UpdateBiasOpModel, UpdateBiasOp> {
  LogicalResult bufferize(Operation *operation, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto op = cast<UpdateBiasOp>(operation);
    BufferBuilder b(rewriter, op, options, state);
    FailureOr<Value> bias = b.operand(op.getBias());
    FailureOr<Value> load = b.operand(op.getLoad());
    if (failed(bias) || failed(load))
      return failure();
    FailureOr<Value> output =
        b.allocate(op.getResult(), b.dynamicSizesLike(op.getResult(), *bias));
    if (failed(output))
      return failure();
    BufferUpdateBiasOp::create(rewriter, op.getLoc(), op.getRuleAttr(), *bias,
                               *load, *output, op.getRateAttr(),
                               op.getCenterAttr());
    replaceOpWithBufferizedValues(rewriter, op, *output);
    return success();
  }
};

struct ImbalanceOpModel
    : MoEOpBufferizationModel<ImbalanceOpModel, ImbalanceOp> {
  bool bufferizesToAllocation(Operation *, Value) const { return false; }

  LogicalResult bufferize(Operation *operation, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto op = cast<ImbalanceOp>(operation);
    BufferBuilder b(rewriter, op, options, state);
    FailureOr<Value> load = b.operand(op.getLoad());
    if (failed(load))
      return failure();
    replaceOpWithNewBufferizedOp<BufferImbalanceOp>(rewriter, op,
                                                    op.getType(), *load);
    return success();
  }
};

struct RouteOpModel : MoEOpBufferizationModel<RouteOpModel, RouteOp> {
  LogicalResult bufferize(Operation *operation, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto op = cast<RouteOp>(operation);
    BufferBuilder b(rewriter, op, options, state);
    FailureOr<Value> logits = b.operand(op.getLogits());
    FailureOr<Value> bias = b.operand(op.getBias());
    if (failed(logits) || failed(bias))
      return failure();
    SmallVector<Value> rows = b.dynamicSizesLike(op.getWeights(), *logits);
    FailureOr<Value> weights = b.allocate(op.getWeights(), rows);
    FailureOr<Value> indices = b.allocate(op.getIndices(), rows);
    FailureOr<Value> counts = b.allocate(op.getCounts());
    if (failed(weights) || failed(indices) || failed(counts))
      return failure();
    BufferRouteOp::create(rewriter, op.getLoc(), op.getFunctionAttr(), *logits,
                          *bias, *weights, *indices, *counts, op.getKAttr(),
                          op.getNumGroupsAttr(), op.getTopkGroupsAttr(),
                          op.getGroupTopAttr(), op.getNormalizeAttr(),
                          op.getScaleAttr());
    replaceOpWithBufferizedValues(rewriter, op, {*weights, *indices, *counts});
    return success();
  }
};

struct DispatchOpModel : MoEOpBufferizationModel<DispatchOpModel, DispatchOp> {
  LogicalResult bufferize(Operation *operation, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto op = cast<DispatchOp>(operation);
    BufferBuilder b(rewriter, op, options, state);
    FailureOr<Value> indices = b.operand(op.getIndices());
    if (failed(indices))
      return failure();
    Location loc = op.getLoc();

    // token_ids has P rows: a constant unless it depends on a dynamic T;
    // slots has T rows.
    RankedTensorType indicesType = op.getIndices().getType();
    Value numTokens;
    if (indicesType.isDynamicDim(0))
      numTokens = b.dim(*indices, 0);
    SmallVector<Value> rowSizes;
    if (op.getTokenIds().getType().isDynamicDim(0)) {
      int64_t rows = op.getNumRows(indicesType.getDimSize(0));
      if (!ShapedType::isDynamic(rows)) {
        rowSizes.push_back(arith::ConstantIndexOp::create(rewriter, loc, rows));
      } else {
        // P = T * K + E * (block - 1).
        Value k = arith::ConstantIndexOp::create(rewriter, loc,
                                                 indicesType.getDimSize(1));
        Value padding = arith::ConstantIndexOp::create(
            rewriter, loc, op.getNumExperts() * (op.getBlock() - 1));
        Value pairs = arith::MulIOp::create(rewriter, loc, numTokens, k);
        rowSizes.push_back(arith::AddIOp::create(rewriter, loc, pairs, padding));
      }
    }
    FailureOr<Value> offsets = b.allocate(op.getOffsets());
    FailureOr<Value> tokenIds = b.allocate(op.getTokenIds(), rowSizes);
    FailureOr<Value> slots = b.allocate(
        op.getSlots(), numTokens ? ValueRange{numTokens} : ValueRange{});
    if (failed(offsets) || failed(tokenIds) || failed(slots))
      return failure();
    BufferDispatchOp::create(rewriter, loc, *indices, *offsets, *tokenIds,
                             *slots, op.getNumExpertsAttr(), op.getBlockAttr(),
                             op.getCapacityAttr());
    replaceOpWithBufferizedValues(rewriter, op, {*offsets, *tokenIds, *slots});
    return success();
  }
};

struct PermuteOpModel : MoEOpBufferizationModel<PermuteOpModel, PermuteOp> {
  LogicalResult bufferize(Operation *operation, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto op = cast<PermuteOp>(operation);
    BufferBuilder b(rewriter, op, options, state);
    FailureOr<Value> input = b.operand(op.getInput());
    FailureOr<Value> tokenIds = b.operand(op.getTokenIds());
    if (failed(input) || failed(tokenIds))
      return failure();
    // [P, H]: P from token_ids, H from the input rows.
    SmallVector<Value> sizes;
    RankedTensorType type = op.getResult().getType();
    if (type.isDynamicDim(0))
      sizes.push_back(b.dim(*tokenIds, 0));
    if (type.isDynamicDim(1))
      sizes.push_back(b.dim(*input, 1));
    FailureOr<Value> output = b.allocate(op.getResult(), sizes);
    if (failed(output))
      return failure();
    BufferPermuteOp::create(rewriter, op.getLoc(), *input, *tokenIds, *output);
    replaceOpWithBufferizedValues(rewriter, op, *output);
    return success();
  }
};

struct CombineOpModel : MoEOpBufferizationModel<CombineOpModel, CombineOp> {
  LogicalResult bufferize(Operation *operation, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto op = cast<CombineOp>(operation);
    BufferBuilder b(rewriter, op, options, state);
    FailureOr<Value> expertOut = b.operand(op.getExpertOut());
    FailureOr<Value> weights = b.operand(op.getWeights());
    FailureOr<Value> slots = b.operand(op.getSlots());
    if (failed(expertOut) || failed(weights) || failed(slots))
      return failure();
    // [T, H]: T from the weights, H from the expert outputs.
    SmallVector<Value> sizes;
    RankedTensorType type = op.getResult().getType();
    if (type.isDynamicDim(0))
      sizes.push_back(b.dim(*weights, 0));
    if (type.isDynamicDim(1))
      sizes.push_back(b.dim(*expertOut, 1));
    FailureOr<Value> output = b.allocate(op.getResult(), sizes);
    if (failed(output))
      return failure();
    BufferCombineOp::create(rewriter, op.getLoc(), *expertOut, *weights,
                            *slots, *output);
    replaceOpWithBufferizedValues(rewriter, op, *output);
    return success();
  }
};

/// A gradient with the logits' shape: [T, E], T from the logits.
template <typename OpTy>
static FailureOr<Value> allocateGradient(BufferBuilder &b, OpTy op,
                                         Value logits) {
  return b.allocate(op.getResult(), b.dynamicSizesLike(op.getResult(), logits));
}

struct RouteGradOpModel
    : MoEOpBufferizationModel<RouteGradOpModel, RouteGradOp> {
  LogicalResult bufferize(Operation *operation, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto op = cast<RouteGradOp>(operation);
    BufferBuilder b(rewriter, op, options, state);
    FailureOr<Value> logits = b.operand(op.getLogits());
    FailureOr<Value> indices = b.operand(op.getIndices());
    FailureOr<Value> grad = b.operand(op.getGrad());
    if (failed(logits) || failed(indices) || failed(grad))
      return failure();
    FailureOr<Value> output = allocateGradient(b, op, *logits);
    if (failed(output))
      return failure();
    BufferRouteGradOp::create(rewriter, op.getLoc(), op.getFunctionAttr(),
                              *logits, *indices, *grad, *output,
                              op.getNormalizeAttr(), op.getScaleAttr());
    replaceOpWithBufferizedValues(rewriter, op, *output);
    return success();
  }
};

struct AuxLossOpModel : MoEOpBufferizationModel<AuxLossOpModel, AuxLossOp> {
  LogicalResult bufferize(Operation *operation, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto op = cast<AuxLossOp>(operation);
    BufferBuilder b(rewriter, op, options, state);
    FailureOr<Value> logits = b.operand(op.getLogits());
    FailureOr<Value> indices = b.operand(op.getIndices());
    FailureOr<Value> output = b.allocate(op.getResult());
    if (failed(logits) || failed(indices) || failed(output))
      return failure();
    BufferAuxLossOp::create(rewriter, op.getLoc(), op.getFunctionAttr(),
                            *logits, *indices, *output, op.getSeqLenAttr(),
                            op.getNormalizeAttr());
    replaceOpWithBufferizedValues(rewriter, op, *output);
    return success();
  }
};

struct AuxLossGradOpModel
    : MoEOpBufferizationModel<AuxLossGradOpModel, AuxLossGradOp> {
  LogicalResult bufferize(Operation *operation, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto op = cast<AuxLossGradOp>(operation);
    BufferBuilder b(rewriter, op, options, state);
    FailureOr<Value> logits = b.operand(op.getLogits());
    FailureOr<Value> indices = b.operand(op.getIndices());
    FailureOr<Value> lossGrad = b.operand(op.getLossGrad());
    if (failed(logits) || failed(indices) || failed(lossGrad))
      return failure();
    FailureOr<Value> output = allocateGradient(b, op, *logits);
    if (failed(output))
      return failure();
    BufferAuxLossGradOp::create(rewriter, op.getLoc(), op.getFunctionAttr(),
                                *logits, *indices, *lossGrad, *output,
                                op.getSeqLenAttr(), op.getNormalizeAttr());
    replaceOpWithBufferizedValues(rewriter, op, *output);
    return success();
  }
};

struct RouteAuxGradOpModel
    : MoEOpBufferizationModel<RouteAuxGradOpModel, RouteAuxGradOp> {
  LogicalResult bufferize(Operation *operation, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto op = cast<RouteAuxGradOp>(operation);
    BufferBuilder b(rewriter, op, options, state);
    FailureOr<Value> logits = b.operand(op.getLogits());
    FailureOr<Value> indices = b.operand(op.getIndices());
    FailureOr<Value> grad = b.operand(op.getGrad());
    FailureOr<Value> lossGrad = b.operand(op.getLossGrad());
    if (failed(logits) || failed(indices) || failed(grad) || failed(lossGrad))
      return failure();
    FailureOr<Value> output = allocateGradient(b, op, *logits);
    if (failed(output))
      return failure();
    BufferRouteAuxGradOp::create(
        rewriter, op.getLoc(), op.getFunctionAttr(), *logits, *indices, *grad,
        *lossGrad, *output, op.getNormalizeAttr(), op.getScaleAttr(),
        op.getSeqLenAttr(), op.getAuxNormalizeAttr());
    replaceOpWithBufferizedValues(rewriter, op, *output);
    return success();
  }
};

} // namespace

void mlir::moe::registerBufferizableOpInterfaceExternalModels(
    DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, MoEDialect *) {
    ScoreOp::attachInterface<ScoreOpModel>(*ctx);
    TopKOp::attachInterface<TopKOpModel>(*ctx);
    NormalizeOp::attachInterface<NormalizeOpModel>(*ctx);
    LoadOp::attachInterface<LoadOpModel>(*ctx);
    UpdateBiasOp::attachInterface<UpdateBiasOpModel>(*ctx);
    ImbalanceOp::attachInterface<ImbalanceOpModel>(*ctx);
    RouteOp::attachInterface<RouteOpModel>(*ctx);
    DispatchOp::attachInterface<DispatchOpModel>(*ctx);
    PermuteOp::attachInterface<PermuteOpModel>(*ctx);
    CombineOp::attachInterface<CombineOpModel>(*ctx);
    RouteGradOp::attachInterface<RouteGradOpModel>(*ctx);
    AuxLossOp::attachInterface<AuxLossOpModel>(*ctx);
    AuxLossGradOp::attachInterface<AuxLossGradOpModel>(*ctx);
    RouteAuxGradOp::attachInterface<RouteAuxGradOpModel>(*ctx);
    // Buffer ops must be known to the analysis: they are never bufferized.
  });
}

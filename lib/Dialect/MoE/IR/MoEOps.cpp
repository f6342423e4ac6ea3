//===- MoEOps.cpp - moe dialect operations --------------------------------===//
//
// Verifiers are written once over ShapedType: a tensor op and its
// `moe.buffer.*` form check the same rules with the same messages.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/Support/CheckedArithmetic.h"

#include <string>

using namespace mlir;
using namespace mlir::moe;

//===----------------------------------------------------------------------===//
// SelectionConfig
//===----------------------------------------------------------------------===//

SelectionConfig SelectionConfig::get(int64_t numExperts, int64_t k,
                                     int64_t numGroups,
                                     std::optional<int64_t> topkGroups,
                                     std::optional<int64_t> groupTop) {
  SelectionConfig config;
  config.numExperts = numExperts;
  config.k = k;
  config.numGroups = numGroups;
  config.topkGroups = topkGroups.value_or(numGroups);
  config.groupTop = groupTop.value_or(config.groupSize() == 1 ? 1 : 2);
  return config;
}

/// The expert count of an op whose expert-indexed operand has type `type`
/// ([T, E] or [E]); kDynamic when the operand is not ranked as expected.
static int64_t getExpertDim(Type type) {
  auto shaped = dyn_cast<ShapedType>(type);
  if (!shaped || !shaped.hasRank() || shaped.getRank() < 1)
    return ShapedType::kDynamic;
  return shaped.getShape().back();
}

template <typename OpTy>
static SelectionConfig getSelectionConfigImpl(OpTy op, Value experts) {
  return SelectionConfig::get(getExpertDim(experts.getType()), op.getK(),
                              op.getNumGroups(), op.getTopkGroups(),
                              op.getGroupTop());
}

SelectionConfig TopKOp::getSelectionConfig() {
  return getSelectionConfigImpl(*this, getScores());
}
SelectionConfig RouteOp::getSelectionConfig() {
  return getSelectionConfigImpl(*this, getLogits());
}
SelectionConfig BufferTopKOp::getSelectionConfig() {
  return getSelectionConfigImpl(*this, getScores());
}
SelectionConfig BufferRouteOp::getSelectionConfig() {
  return getSelectionConfigImpl(*this, getLogits());
}

//===----------------------------------------------------------------------===//
// Shared verification helpers
//===----------------------------------------------------------------------===//

namespace {
/// A named operand or result type, for diagnostics.
struct Named {
  StringRef name;
  ShapedType type;
  int64_t dim(unsigned i) const { return type.getDimSize(i); }
};
} // namespace

static std::string dimToString(int64_t dim) {
  return ShapedType::isDynamic(dim) ? std::string("?") : std::to_string(dim);
}

static LogicalResult verifyRank(Operation *op, Named value, int64_t rank) {
  if (value.type.getRank() != rank)
    return op->emitOpError("expected '")
           << value.name << "' to have rank " << rank << ", got "
           << value.type;
  return success();
}

/// Checks that `value` has rank `rank` and a static last (expert or width)
/// dimension.
static LogicalResult verifyStaticLastDim(Operation *op, Named value,
                                         int64_t rank, StringRef dimName) {
  if (failed(verifyRank(op, value, rank)))
    return failure();
  if (value.type.isDynamicDim(rank - 1))
    return op->emitOpError("expected the ")
           << dimName << " dimension of '" << value.name
           << "' to be static, got " << value.type;
  return success();
}

/// Checks that dimension `i` of `a` equals dimension `j` of `b`; a dynamic
/// dimension only equals a dynamic one.
static LogicalResult verifySameDim(Operation *op, Named a, unsigned i, Named b,
                                   unsigned j, StringRef dimName) {
  if (a.dim(i) != b.dim(j))
    return op->emitOpError("expected the ")
           << dimName << " dimension of '" << b.name << "' ("
           << dimToString(b.dim(j)) << ") to match '" << a.name << "' ("
           << dimToString(a.dim(i)) << ")";
  return success();
}

static LogicalResult verifyDimEquals(Operation *op, Named value, unsigned i,
                                     int64_t expected, StringRef what) {
  if (value.dim(i) != expected)
    return op->emitOpError("expected '")
           << value.name << "' to have " << expected << " " << what
           << ", got " << value.type;
  return success();
}

/// The bias is f32, always: a low-precision bias silently changes which
/// experts win.
static LogicalResult verifyF32Bias(Operation *op, ShapedType bias) {
  if (!bias.getElementType().isF32())
    return op->emitOpError("expected an f32 bias, got ")
           << bias.getElementType()
           << " (a low-precision bias changes which experts win)";
  return success();
}

static LogicalResult verifySelection(Operation *op,
                                     const SelectionConfig &config) {
  int64_t e = config.numExperts;
  if (config.k > e)
    return op->emitOpError("k = ")
           << config.k << " exceeds the number of experts (" << e << ")";
  if (config.numGroups < 1 || e % config.numGroups != 0)
    return op->emitOpError("num_groups = ")
           << config.numGroups << " must be positive and divide the number of "
           << "experts (" << e << ")";
  if (config.topkGroups < 1 || config.topkGroups > config.numGroups)
    return op->emitOpError("topk_groups = ")
           << config.topkGroups << " must be in [1, num_groups = "
           << config.numGroups << "]";
  if (config.groupTop < 1 || config.groupTop > config.groupSize())
    return op->emitOpError("group_top = ")
           << config.groupTop << " must be in [1, " << config.groupSize()
           << "], the experts per group";
  if (config.k > config.topkGroups * config.groupSize())
    return op->emitOpError("k = ")
           << config.k << " exceeds the experts of the kept groups ("
           << config.topkGroups << " x " << config.groupSize() << ")";
  return success();
}

/// [T, E] scores or logits, optional [E] f32 bias, [T, K] weights and
/// indices: the operand types shared by topk and route.
static LogicalResult verifySelectionTypes(Operation *op, Named scores,
                                          std::optional<Named> bias,
                                          Named weights, Named indices,
                                          const SelectionConfig &config) {
  if (failed(verifyStaticLastDim(op, scores, 2, "expert")))
    return failure();
  if (bias) {
    if (failed(verifyF32Bias(op, bias->type)) ||
        failed(verifyRank(op, *bias, 1)) ||
        failed(verifySameDim(op, scores, 1, *bias, 0, "expert")))
      return failure();
  }
  if (failed(verifySelection(op, config)))
    return failure();
  for (Named result : {weights, indices}) {
    if (failed(verifyRank(op, result, 2)) ||
        failed(verifySameDim(op, scores, 0, result, 0, "token")) ||
        failed(verifyDimEquals(op, result, 1, config.k, "columns (k)")))
      return failure();
  }
  return success();
}

static LogicalResult verifyScoreTypes(Operation *op, Named input,
                                      Named result) {
  if (failed(verifyStaticLastDim(op, input, 2, "expert")))
    return failure();
  if (input.type.getShape() != result.type.getShape())
    return op->emitOpError("expected '")
           << result.name << "' to have the shape of '" << input.name
           << "', got " << result.type << " and " << input.type;
  return success();
}

static LogicalResult verifyNormalizeTypes(Operation *op, Named weights,
                                          std::optional<Named> output) {
  if (failed(verifyRank(op, weights, 2)))
    return failure();
  if (output && output->type.getShape() != weights.type.getShape())
    return op->emitOpError("expected '")
           << output->name << "' to have the shape of '" << weights.name
           << "', got " << output->type << " and " << weights.type;
  return success();
}

static LogicalResult verifyLoadTypes(Operation *op, Named indices,
                                     std::optional<Named> mask, Named counts,
                                     int64_t numExperts) {
  if (failed(verifyRank(op, indices, 2)))
    return failure();
  if (mask && (failed(verifyRank(op, *mask, 1)) ||
               failed(verifySameDim(op, indices, 0, *mask, 0, "token"))))
    return failure();
  if (failed(verifyRank(op, counts, 1)) ||
      failed(verifyDimEquals(op, counts, 0, numExperts,
                             "elements (num_experts)")))
    return failure();
  return success();
}

static LogicalResult verifyUpdateBiasTypes(Operation *op, Named bias,
                                           Named load,
                                           std::optional<Named> output) {
  if (failed(verifyF32Bias(op, bias.type)))
    return failure();
  if (bias.type.getRank() != 1 && bias.type.getRank() != 2)
    return op->emitOpError("expected 'bias' to have rank 1 ([E]) or 2 "
                           "([L, E]), got ")
           << bias.type;
  if (failed(verifyStaticLastDim(op, bias, bias.type.getRank(), "expert")))
    return failure();
  if (load.type.getShape() != bias.type.getShape())
    return op->emitOpError("expected 'load' to have the shape of 'bias', got ")
           << load.type << " and " << bias.type;
  if (output) {
    if (!output->type.getElementType().isF32())
      return op->emitOpError("expected an f32 'output', got ")
             << output->type;
    if (output->type.getShape() != bias.type.getShape())
      return op->emitOpError(
                 "expected 'output' to have the shape of 'bias', got ")
             << output->type << " and " << bias.type;
  }
  return success();
}

static LogicalResult verifyImbalanceTypes(Operation *op, Named load) {
  return verifyStaticLastDim(op, load, 1, "expert");
}

static LogicalResult verifyRouteTypes(Operation *op, Named logits,
                                      std::optional<Named> bias, Named weights,
                                      Named indices, Named counts,
                                      const SelectionConfig &config) {
  if (failed(verifySelectionTypes(op, logits, bias, weights, indices, config)))
    return failure();
  if (failed(verifyRank(op, counts, 1)) ||
      failed(verifySameDim(op, logits, 1, counts, 0, "expert")))
    return failure();
  return success();
}

/// Rows of the token_ids of a dispatch; kDynamic when they depend on a
/// dynamic token count. The verifier has checked that the padding terms fit
/// in 64 bits (verifyDispatchPadding).
static int64_t getDispatchRows(int64_t numTokens, int64_t numChosen,
                               int64_t numExperts, int64_t block,
                               std::optional<int64_t> capacity) {
  if (capacity)
    return numExperts * llvm::divideCeil(*capacity, block) * block;
  if (ShapedType::isDynamic(numTokens))
    return ShapedType::kDynamic;
  return numTokens * numChosen + numExperts * (block - 1);
}

/// The row count of token_ids must fit in 64 bits: E * (block - 1), plus
/// T * K for a static T, or E * roundup(C, block) with a capacity.
static LogicalResult verifyDispatchPadding(Operation *op, int64_t numTokens,
                                           int64_t numChosen,
                                           int64_t numExperts, int64_t block,
                                           std::optional<int64_t> capacity) {
  std::optional<int64_t> padding = llvm::checkedMul(numExperts, block - 1);
  std::optional<int64_t> rows = padding;
  if (capacity) {
    rows.reset();
    if (std::optional<int64_t> padded = llvm::checkedAdd(*capacity, block - 1))
      rows = llvm::checkedMul(numExperts, *padded / block * block);
  } else if (padding && !ShapedType::isDynamic(numTokens)) {
    if (std::optional<int64_t> pairs = llvm::checkedMul(numTokens, numChosen))
      rows = llvm::checkedAdd(*pairs, *padding);
    else
      rows.reset();
  }
  if (!padding || !rows)
    return op->emitOpError("the number of token_ids rows for num_experts = ")
           << numExperts << ", block = " << block
           << (capacity ? ", capacity = " + std::to_string(*capacity) : "")
           << " overflows 64 bits";
  return success();
}

static LogicalResult verifyDispatchTypes(Operation *op, Named indices,
                                         Named offsets, Named tokenIds,
                                         Named slots, int64_t numExperts,
                                         int64_t block,
                                         std::optional<int64_t> capacity) {
  if (failed(verifyStaticLastDim(op, indices, 2, "k")))
    return failure();
  if (failed(verifyRank(op, offsets, 1)) ||
      failed(verifyDimEquals(op, offsets, 0, numExperts + 1,
                             "elements (num_experts + 1)")))
    return failure();
  if (failed(verifyRank(op, tokenIds, 1)) ||
      failed(verifyDispatchPadding(op, indices.dim(0), indices.dim(1),
                                   numExperts, block, capacity)))
    return failure();
  int64_t rows = getDispatchRows(indices.dim(0), indices.dim(1), numExperts,
                                 block, capacity);
  if (ShapedType::isDynamic(rows) && !tokenIds.type.isDynamicDim(0))
    return op->emitOpError("expected a dynamic number of rows in "
                           "'token_ids' for a dynamic token count without "
                           "capacity, got ")
           << tokenIds.type;
  if (!ShapedType::isDynamic(rows) && !tokenIds.type.isDynamicDim(0) &&
      tokenIds.dim(0) != rows)
    return op->emitOpError("expected 'token_ids' to have ")
           << rows << " rows ("
           << (capacity ? "E * roundup(capacity, block)"
                        : "T * K + E * (block - 1)")
           << "), got " << tokenIds.type;
  if (slots.type.getShape() != indices.type.getShape())
    return op->emitOpError("expected 'slots' to have the shape of 'indices', "
                           "got ")
           << slots.type << " and " << indices.type;
  return success();
}

static LogicalResult verifyPermuteTypes(Operation *op, Named input,
                                        Named tokenIds, Named result) {
  if (failed(verifyRank(op, input, 2)) || failed(verifyRank(op, tokenIds, 1)) ||
      failed(verifyRank(op, result, 2)))
    return failure();
  if (input.type.getElementType() != result.type.getElementType())
    return op->emitOpError("expected '")
           << result.name << "' to have the element type of '" << input.name
           << "', got " << result.type << " and " << input.type;
  if (failed(verifySameDim(op, tokenIds, 0, result, 0, "row")) ||
      failed(verifySameDim(op, input, 1, result, 1, "width")))
    return failure();
  return success();
}

static LogicalResult verifyCombineTypes(Operation *op, Named expertOut,
                                        Named weights, Named slots,
                                        Named result) {
  if (failed(verifyRank(op, expertOut, 2)) ||
      failed(verifyRank(op, weights, 2)) || failed(verifyRank(op, result, 2)))
    return failure();
  if (slots.type.getShape() != weights.type.getShape())
    return op->emitOpError("expected 'slots' to have the shape of "
                           "'weights', got ")
           << slots.type << " and " << weights.type;
  if (expertOut.type.getElementType() != result.type.getElementType())
    return op->emitOpError("expected '")
           << result.name << "' to have the element type of '"
           << expertOut.name << "', got " << result.type << " and "
           << expertOut.type;
  if (failed(verifySameDim(op, weights, 0, result, 0, "token")) ||
      failed(verifySameDim(op, expertOut, 1, result, 1, "width")))
    return failure();
  return success();
}

static Named named(StringRef name, Value value) {
  return {name, cast<ShapedType>(value.getType())};
}

static std::optional<Named> namedOptional(StringRef name, Value value) {
  if (!value)
    return std::nullopt;
  return named(name, value);
}

//===----------------------------------------------------------------------===//
// Tensor ops
//===----------------------------------------------------------------------===//

LogicalResult ScoreOp::verify() {
  return verifyScoreTypes(*this, named("input", getInput()),
                          named("result", getResult()));
}

LogicalResult TopKOp::verify() {
  return verifySelectionTypes(*this, named("scores", getScores()),
                              namedOptional("bias", getBias()),
                              named("weights", getWeights()),
                              named("indices", getIndices()),
                              getSelectionConfig());
}

LogicalResult NormalizeOp::verify() {
  return verifyNormalizeTypes(*this, named("weights", getWeights()),
                              std::nullopt);
}

LogicalResult LoadOp::verify() {
  return verifyLoadTypes(*this, named("indices", getIndices()),
                         namedOptional("mask", getMask()),
                         named("counts", getCounts()), getNumExperts());
}

LogicalResult UpdateBiasOp::verify() {
  return verifyUpdateBiasTypes(*this, named("bias", getBias()),
                               named("load", getLoad()), std::nullopt);
}

OpFoldResult UpdateBiasOp::fold(FoldAdaptor) {
  // A zero rate leaves the bias unchanged, for either rule and with or
  // without centring (delta is 0 everywhere, so is its mean).
  if (getRate().isZero())
    return getBias();
  return {};
}

LogicalResult ImbalanceOp::verify() {
  return verifyImbalanceTypes(*this, named("load", getLoad()));
}

OpFoldResult ImbalanceOp::fold(FoldAdaptor adaptor) {
  // Every expert carries the mean load (or the load is all zero): MaxVio is
  // exactly 0.
  if (auto splat = dyn_cast_if_present<SplatElementsAttr>(adaptor.getLoad()))
    return FloatAttr::get(getResult().getType(), 0.0);
  return {};
}

LogicalResult RouteOp::verify() {
  return verifyRouteTypes(*this, named("logits", getLogits()),
                          namedOptional("bias", getBias()),
                          named("weights", getWeights()),
                          named("indices", getIndices()),
                          named("counts", getCounts()), getSelectionConfig());
}

int64_t DispatchOp::getNumRows(int64_t numTokens) {
  return getDispatchRows(numTokens, getIndices().getType().getDimSize(1),
                         getNumExperts(), getBlock(), getCapacity());
}

LogicalResult DispatchOp::verify() {
  return verifyDispatchTypes(*this, named("indices", getIndices()),
                             named("offsets", getOffsets()),
                             named("token_ids", getTokenIds()),
                             named("slots", getSlots()), getNumExperts(),
                             getBlock(), getCapacity());
}

LogicalResult PermuteOp::verify() {
  return verifyPermuteTypes(*this, named("input", getInput()),
                            named("token_ids", getTokenIds()),
                            named("result", getResult()));
}

LogicalResult CombineOp::verify() {
  return verifyCombineTypes(*this, named("expert_out", getExpertOut()),
                            named("weights", getWeights()),
                            named("slots", getSlots()),
                            named("result", getResult()));
}

//===----------------------------------------------------------------------===//
// Buffer ops
//===----------------------------------------------------------------------===//

LogicalResult BufferScoreOp::verify() {
  return verifyScoreTypes(*this, named("input", getInput()),
                          named("output", getOutput()));
}

LogicalResult BufferTopKOp::verify() {
  return verifySelectionTypes(*this, named("scores", getScores()),
                              namedOptional("bias", getBias()),
                              named("weights", getWeights()),
                              named("indices", getIndices()),
                              getSelectionConfig());
}

LogicalResult BufferNormalizeOp::verify() {
  return verifyNormalizeTypes(*this, named("weights", getWeights()),
                              named("output", getOutput()));
}

LogicalResult BufferLoadOp::verify() {
  return verifyLoadTypes(*this, named("indices", getIndices()),
                         namedOptional("mask", getMask()),
                         named("counts", getCounts()), getNumExperts());
}

LogicalResult BufferUpdateBiasOp::verify() {
  return verifyUpdateBiasTypes(*this, named("bias", getBias()),
                               named("load", getLoad()),
                               named("output", getOutput()));
}

LogicalResult BufferImbalanceOp::verify() {
  return verifyImbalanceTypes(*this, named("load", getLoad()));
}

LogicalResult BufferRouteOp::verify() {
  return verifyRouteTypes(*this, named("logits", getLogits()),
                          namedOptional("bias", getBias()),
                          named("weights", getWeights()),
                          named("indices", getIndices()),
                          named("counts", getCounts()), getSelectionConfig());
}

LogicalResult BufferDispatchOp::verify() {
  return verifyDispatchTypes(*this, named("indices", getIndices()),
                             named("offsets", getOffsets()),
                             named("token_ids", getTokenIds()),
                             named("slots", getSlots()), getNumExperts(),
                             getBlock(), getCapacity());
}

LogicalResult BufferPermuteOp::verify() {
  return verifyPermuteTypes(*this, named("input", getInput()),
                            named("token_ids", getTokenIds()),
                            named("output", getOutput()));
}

LogicalResult BufferCombineOp::verify() {
  return verifyCombineTypes(*this, named("expert_out", getExpertOut()),
                            named("weights", getWeights()),
                            named("slots", getSlots()),
                            named("output", getOutput()));
}

//===----------------------------------------------------------------------===//
// Training ops
//===----------------------------------------------------------------------===//

namespace {
/// The operands and result of a training op (tensor or buffer form).
struct TrainingTypes {
  Named logits;
  Named indices;
  /// [T, K] f32 gradient of the weights (route_grad, route_aux_grad).
  std::optional<Named> grad;
  /// Rank-0 f32 gradient of the loss (aux_loss_grad, route_aux_grad).
  std::optional<Named> lossGrad;
  /// [T, E] gradient, or the rank-0 loss (aux_loss).
  Named result;
  /// The result may have the logits' element type as well as f32 (the
  /// gradients rounded once); otherwise its type constraint makes it f32.
  bool resultMayRound;
};
} // namespace

static LogicalResult verifyTrainingTypes(Operation *op,
                                         const TrainingTypes &types) {
  Named logits = types.logits, indices = types.indices;
  if (failed(verifyStaticLastDim(op, logits, 2, "expert")) ||
      failed(verifyStaticLastDim(op, indices, 2, "k")))
    return failure();
  if (indices.dim(1) < 1)
    return op->emitOpError("expected at least one column (k) in '")
           << indices.name << "', got " << indices.type;
  if (failed(verifySameDim(op, logits, 0, indices, 0, "token")))
    return failure();
  if (types.grad && types.grad->type.getShape() != indices.type.getShape())
    return op->emitOpError("expected '")
           << types.grad->name << "' to have the shape of '" << indices.name
           << "', got " << types.grad->type << " and " << indices.type;
  if (types.lossGrad && failed(verifyRank(op, *types.lossGrad, 0)))
    return failure();

  // A result that may be rounded is f32 or has the logits' element type;
  // the others are f32 by their type constraints.
  Named result = types.result;
  Type resultElement = result.type.getElementType();
  if (types.resultMayRound && !resultElement.isF32() &&
      resultElement != logits.type.getElementType())
    return op->emitOpError("expected '")
           << result.name << "' to have element type f32 or that of '"
           << logits.name << "', got " << result.type;
  if (!types.grad && !types.lossGrad)
    return verifyRank(op, result, 0);
  if (result.type.getShape() != logits.type.getShape())
    return op->emitOpError("expected '")
           << result.name << "' to have the shape of '" << logits.name
           << "', got " << result.type << " and " << logits.type;
  return success();
}

/// An empty constant for a gradient of statically zero tokens.
static OpFoldResult foldEmptyGradient(Value logits, Value result) {
  auto type = cast<RankedTensorType>(result.getType());
  if (cast<ShapedType>(logits.getType()).getDimSize(0) != 0)
    return {};
  return DenseElementsAttr::get(type, ArrayRef<Attribute>());
}

LogicalResult RouteGradOp::verify() {
  return verifyTrainingTypes(
      *this, {named("logits", getLogits()), named("indices", getIndices()),
              named("grad", getGrad()), std::nullopt,
              named("result", getResult()), /*resultMayRound=*/true});
}

OpFoldResult RouteGradOp::fold(FoldAdaptor) {
  return foldEmptyGradient(getLogits(), getResult());
}

LogicalResult AuxLossOp::verify() {
  return verifyTrainingTypes(
      *this, {named("logits", getLogits()), named("indices", getIndices()),
              std::nullopt, std::nullopt, named("result", getResult()),
              /*resultMayRound=*/false});
}

OpFoldResult AuxLossOp::fold(FoldAdaptor) {
  // The loss of no tokens is 0 by definition.
  if (getLogits().getType().getDimSize(0) != 0)
    return {};
  auto type = cast<RankedTensorType>(getResult().getType());
  return DenseElementsAttr::get(type, FloatAttr::get(type.getElementType(),
                                                     0.0));
}

LogicalResult AuxLossGradOp::verify() {
  return verifyTrainingTypes(
      *this, {named("logits", getLogits()), named("indices", getIndices()),
              std::nullopt, named("loss_grad", getLossGrad()),
              named("result", getResult()), /*resultMayRound=*/false});
}

OpFoldResult AuxLossGradOp::fold(FoldAdaptor) {
  return foldEmptyGradient(getLogits(), getResult());
}

LogicalResult RouteAuxGradOp::verify() {
  return verifyTrainingTypes(
      *this, {named("logits", getLogits()), named("indices", getIndices()),
              named("grad", getGrad()), named("loss_grad", getLossGrad()),
              named("result", getResult()), /*resultMayRound=*/true});
}

OpFoldResult RouteAuxGradOp::fold(FoldAdaptor) {
  return foldEmptyGradient(getLogits(), getResult());
}

LogicalResult BufferRouteGradOp::verify() {
  return verifyTrainingTypes(
      *this, {named("logits", getLogits()), named("indices", getIndices()),
              named("grad", getGrad()), std::nullopt,
              named("output", getOutput()), /*resultMayRound=*/true});
}

LogicalResult BufferAuxLossOp::verify() {
  return verifyTrainingTypes(
      *this, {named("logits", getLogits()), named("indices", getIndices()),
              std::nullopt, std::nullopt, named("output", getOutput()),
              /*resultMayRound=*/false});
}

LogicalResult BufferAuxLossGradOp::verify() {
  return verifyTrainingTypes(
      *this, {named("logits", getLogits()), named("indices", getIndices()),
              std::nullopt, named("loss_grad", getLossGrad()),
              named("output", getOutput()), /*resultMayRound=*/false});
}

LogicalResult BufferRouteAuxGradOp::verify() {
  return verifyTrainingTypes(
      *this, {named("logits", getLogits()), named("indices", getIndices()),
              named("grad", getGrad()), named("loss_grad", getLossGrad()),
              named("output", getOutput()), /*resultMayRound=*/true});
}

#define GET_OP_CLASSES
#include "moe/Dialect/MoE/IR/MoEOps.cpp.inc"

//===- MoEToLoops.cpp - moe.buffer ops to scf loops -----------------------===//
//
// The CPU lowering: each memref-level moe op becomes sequential scf loops
// over tokens, with arith/math for the scalar work and memref loads/stores.
// Runtime data (indices, token ids, slots) is range-checked before it
// addresses memory.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "moe/Conversion/MoECommon/Builders.h"
#include "moe/Conversion/MoECommon/RoutingMath.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/DialectConversion.h"

#include <limits>

namespace mlir::moe {
#define GEN_PASS_DEF_CONVERTMOETOLOOPS
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// A statically shaped stack buffer, created at the start of the enclosing
/// automatic allocation scope (the function), so that an op inside a loop
/// does not grow the stack.
Value createScratch(ImplicitLocOpBuilder &b, MemRefType type) {
  Operation *scope = b.getInsertionBlock()->getParentOp();
  while (scope && !scope->hasTrait<OpTrait::AutomaticAllocationScope>())
    scope = scope->getParentOp();
  OpBuilder::InsertionGuard guard(b);
  if (scope) {
    // After the scratch buffers already there, in creation order.
    Block &entry = scope->getRegion(0).front();
    auto it = entry.begin();
    while (it != entry.end() && isa<memref::AllocaOp>(*it))
      ++it;
    b.setInsertionPoint(&entry, it);
  }
  return memref::AllocaOp::create(b, type);
}

/// Fills every element of a rank-1 buffer with `value`.
void emitFill(ImplicitLocOpBuilder &b, Value memref, Value value) {
  emitFor(b, 0, dimOf(b, memref, 0),
          [&](ImplicitLocOpBuilder &b, Value i) { store(b, value, memref, i); });
}

/// Adds one to element `index` of an integer counter buffer.
void emitIncrement(ImplicitLocOpBuilder &b, Value counts, Value index) {
  Type type = elementTypeOf(counts);
  Value one = arith::ConstantIntOp::create(b, type, 1);
  Value old = load(b, counts, index);
  store(b, arith::AddIOp::create(b, old, one), counts, index);
}

/// The rows [0, T) of a token-major buffer as an index.
Value numTokens(ImplicitLocOpBuilder &b, Value memref) {
  return dimOf(b, memref, 0);
}

//===----------------------------------------------------------------------===//
// Top-K selection
//===----------------------------------------------------------------------===//

/// The K best (key, id, payload) triples seen so far for one token, best
/// first, in stack buffers. Insertion keeps the contract's order: a new
/// candidate (higher id than every stored one) moves above a stored entry
/// only when it ranks strictly above it.
class BestK {
public:
  BestK(ImplicitLocOpBuilder &b, int64_t k, bool withPayload) : k(k) {
    keys = createScratch(b, MemRefType::get({k}, b.getF32Type()));
    ids = createScratch(b, MemRefType::get({k}, b.getIndexType()));
    if (withPayload)
      payloads = createScratch(b, MemRefType::get({k}, b.getF32Type()));
  }

  /// Offers a candidate; `filled` counts the entries held (<= K). Returns
  /// the new count.
  Value insert(ImplicitLocOpBuilder &b, Value filled, Value key, Value id,
               Value payload) const {
    Value kValue = constIndex(b, k);
    Value last = constIndex(b, k - 1);
    Value full =
        arith::CmpIOp::create(b, arith::CmpIPredicate::eq, filled, kValue);
    // When full, the candidate must beat the K-th entry to get in.
    Value lastKey = load(b, keys, last);
    Value beatsLast = emitRanksAbove(b, key, lastKey);
    Value accept = arith::SelectOp::create(
        b, full, beatsLast, arith::ConstantIntOp::create(b, b.getI1Type(), 1));
    emitIf(b, accept, [&](ImplicitLocOpBuilder &b) {
      Value start = arith::SelectOp::create(b, full, last, filled);
      Value one = constIndex(b, 1);
      Value zero = constIndex(b, 0);
      // Shift down every entry that the candidate ranks above.
      auto shift = scf::WhileOp::create(
          b, TypeRange{b.getIndexType()}, ValueRange{start},
          [&](OpBuilder &nested, Location loc, ValueRange args) {
            ImplicitLocOpBuilder ib(loc, nested);
            Value pos = args[0];
            Value positive = arith::CmpIOp::create(
                ib, arith::CmpIPredicate::ugt, pos, zero);
            Value above = arith::SubIOp::create(
                ib, arith::MaxUIOp::create(ib, pos, one), one);
            Value moves = arith::AndIOp::create(
                ib, positive,
                emitRanksAbove(ib, key, load(ib, keys, above)));
            scf::ConditionOp::create(ib, moves, pos);
          },
          [&](OpBuilder &nested, Location loc, ValueRange args) {
            ImplicitLocOpBuilder ib(loc, nested);
            Value pos = args[0];
            Value above = arith::SubIOp::create(ib, pos, one);
            for (Value buffer : {keys, ids, payloads})
              if (buffer)
                store(ib, load(ib, buffer, above), buffer, pos);
            scf::YieldOp::create(ib, above);
          });
      Value pos = shift.getResult(0);
      store(b, key, keys, pos);
      store(b, id, ids, pos);
      if (payloads)
        store(b, payload, payloads, pos);
    });
    Value next = arith::AddIOp::create(b, filled, constIndex(b, 1));
    return arith::SelectOp::create(b, full, filled, next);
  }

  int64_t k;
  Value keys, ids, payloads;
};

/// Produces the selection key of expert `e` of the current token and its
/// payload (the unbiased score).
using KeyFn = std::function<std::pair<Value, Value>(ImplicitLocOpBuilder &,
                                                    Value /*expert*/)>;

/// Runs the (group-limited) selection of one token; the winners end in
/// `best`, best first. With groups, the keys are evaluated once into the
/// `keyCache` / `payloadCache` stack buffers ([E] each).
class Selector {
public:
  Selector(ImplicitLocOpBuilder &b, const SelectionConfig &config)
      : config(config), best(b, config.k, /*withPayload=*/true) {
    if (!config.isGroupLimited())
      return;
    auto f32Row = MemRefType::get({config.numExperts}, b.getF32Type());
    keyCache = createScratch(b, f32Row);
    payloadCache = createScratch(b, f32Row);
    groupBest.emplace(b, config.groupTop, /*withPayload=*/false);
    groupScores = createScratch(
        b, MemRefType::get({config.numGroups}, b.getF32Type()));
    keptGroups.emplace(b, config.topkGroups, /*withPayload=*/false);
    groupKept = createScratch(
        b, MemRefType::get({config.numGroups}, b.getI1Type()));
  }

  void select(ImplicitLocOpBuilder &b, const KeyFn &keyOf) const {
    Value zero = constIndex(b, 0);
    if (!config.isGroupLimited()) {
      emitForIter(b, 0, config.numExperts, ValueRange{zero},
                  [&](ImplicitLocOpBuilder &b, Value e, ValueRange args) {
                    auto [key, payload] = keyOf(b, e);
                    return SmallVector<Value>{
                        best.insert(b, args[0], key, e, payload)};
                  });
      return;
    }

    int64_t groupSize = config.groupSize();
    // 1. Group scores: the sum of the group_top best keys, NaN as -inf.
    emitFor(b, 0, config.numGroups, [&](ImplicitLocOpBuilder &b, Value g) {
      Value first =
          arith::MulIOp::create(b, g, constIndex(b, groupSize));
      Value end = arith::AddIOp::create(b, first, constIndex(b, groupSize));
      emitForIter(b, first, end, ValueRange{zero},
                  [&](ImplicitLocOpBuilder &b, Value e, ValueRange args) {
                    auto [key, payload] = keyOf(b, e);
                    store(b, key, keyCache, e);
                    store(b, payload, payloadCache, e);
                    return SmallVector<Value>{groupBest->insert(
                        b, args[0], emitNaNToNegInf(b, key), e, Value())};
                  });
      Value sum = emitF32(b, 0.0);
      for (int64_t j = 0; j < config.groupTop; ++j)
        sum = arith::AddFOp::create(
            b, sum, load(b, groupBest->keys, constIndex(b, j)));
      store(b, sum, groupScores, g);
    });

    // 2. Keep the topk_groups best groups.
    emitForIter(b, 0, config.numGroups, ValueRange{zero},
                [&](ImplicitLocOpBuilder &b, Value g, ValueRange args) {
                  return SmallVector<Value>{keptGroups->insert(
                      b, args[0], load(b, groupScores, g), g, Value())};
                });
    emitFill(b, groupKept, arith::ConstantIntOp::create(b, b.getI1Type(), 0));
    emitFor(b, 0, config.topkGroups, [&](ImplicitLocOpBuilder &b, Value j) {
      store(b, arith::ConstantIntOp::create(b, b.getI1Type(), 1), groupKept,
            load(b, keptGroups->ids, j));
    });

    // 3. The K best experts of the kept groups; other groups are skipped.
    emitForIter(
        b, 0, config.numGroups, ValueRange{zero},
        [&](ImplicitLocOpBuilder &b, Value g, ValueRange args) {
          auto kept = scf::IfOp::create(
              b, load(b, groupKept, g),
              [&](OpBuilder &nested, Location loc) {
                ImplicitLocOpBuilder ib(loc, nested);
                Value first =
                    arith::MulIOp::create(ib, g, constIndex(ib, groupSize));
                Value end =
                    arith::AddIOp::create(ib, first, constIndex(ib, groupSize));
                SmallVector<Value> filled = emitForIter(
                    ib, first, end, args,
                    [&](ImplicitLocOpBuilder &b, Value e, ValueRange inner) {
                      return SmallVector<Value>{
                          best.insert(b, inner[0], load(b, keyCache, e), e,
                                      load(b, payloadCache, e))};
                    });
                scf::YieldOp::create(ib, filled);
              },
              [&](OpBuilder &nested, Location loc) {
                scf::YieldOp::create(nested, loc, args);
              });
          return SmallVector<Value>(kept.getResults());
        });
  }

  SelectionConfig config;
  BestK best;
  std::optional<BestK> groupBest, keptGroups;
  Value keyCache, payloadCache, groupScores, groupKept;
};

/// The key of an expert: score + bias (score alone without a bias).
Value addBias(ImplicitLocOpBuilder &b, Value score, Value bias, Value e) {
  if (!bias)
    return score;
  return arith::AddFOp::create(b, score, load(b, bias, e));
}

/// Softmax statistics of row `t` of `logits`; empty for other functions.
RowStats emitRowStats(ImplicitLocOpBuilder &b, ScoreFunction function,
                      Value logits, Value t, int64_t numExperts) {
  if (function != ScoreFunction::softmax)
    return {};
  Value negInf = emitF32(b, -std::numeric_limits<double>::infinity());
  Value max = emitForIter(b, 0, numExperts, ValueRange{negInf},
                          [&](ImplicitLocOpBuilder &b, Value e,
                              ValueRange args) {
                            Value x = emitToF32(b, load(b, logits, {t, e}));
                            return SmallVector<Value>{
                                arith::MaximumFOp::create(b, args[0], x)};
                          })[0];
  Value sum = emitForIter(b, 0, numExperts, ValueRange{emitF32(b, 0.0)},
                          [&](ImplicitLocOpBuilder &b, Value e,
                              ValueRange args) {
                            Value x = emitToF32(b, load(b, logits, {t, e}));
                            Value ex = math::ExpOp::create(
                                b, arith::SubFOp::create(b, x, max));
                            return SmallVector<Value>{
                                arith::AddFOp::create(b, args[0], ex)};
                          })[0];
  return {max, sum};
}

/// Stores the K winners of a token: weights (optionally normalised and
/// scaled) and indices; counts them when `counts` is given.
void emitStoreWinners(ImplicitLocOpBuilder &b, const BestK &best, Value t,
                      Value weights, Value indices, Value counts,
                      bool normalize, APFloat scale) {
  Value zero = emitF32(b, 0.0);
  Value scaleValue = emitF32(b, scale.convertToFloat());
  Value sum;
  if (normalize) {
    sum = emitForIter(b, 0, best.k, ValueRange{zero},
                      [&](ImplicitLocOpBuilder &b, Value j, ValueRange args) {
                        return SmallVector<Value>{arith::AddFOp::create(
                            b, args[0], load(b, best.payloads, j))};
                      })[0];
  }
  Type indexType = elementTypeOf(indices);
  emitFor(b, 0, best.k, [&](ImplicitLocOpBuilder &b, Value j) {
    Value w = load(b, best.payloads, j);
    if (normalize) {
      w = emitNormalizedWeight(b, w, sum, scaleValue);
    } else if (!scale.isExactlyValue(1.0)) {
      w = arith::MulFOp::create(b, scaleValue, w);
    }
    Value e = load(b, best.ids, j);
    store(b, w, weights, {t, j});
    store(b, castIndex(b, indexType, e), indices, {t, j});
    if (counts)
      emitIncrement(b, counts, e);
  });
}

//===----------------------------------------------------------------------===//
// Patterns
//===----------------------------------------------------------------------===//

/// Base for the patterns: builds with the op's location, then replaces the
/// op with its result (imbalance) or erases it.
template <typename OpTy>
struct LoweringPattern : public OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  using OpAdaptor = typename OpConversionPattern<OpTy>::OpAdaptor;

  LogicalResult
  matchAndRewrite(OpTy op, OpAdaptor,
                  ConversionPatternRewriter &rewriter) const final {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Value result = lower(op, b);
    if (result)
      rewriter.replaceOp(op, result);
    else
      rewriter.eraseOp(op);
    return success();
  }

  /// Emits the loops; returns the op's result if it has one.
  virtual Value lower(OpTy op, ImplicitLocOpBuilder &b) const = 0;
};

struct ScoreLowering : LoweringPattern<BufferScoreOp> {
  using LoweringPattern::LoweringPattern;
  Value lower(BufferScoreOp op, ImplicitLocOpBuilder &b) const override {
    int64_t numExperts = op.getInput().getType().getDimSize(1);
    emitFor(b, 0, numTokens(b, op.getInput()),
            [&](ImplicitLocOpBuilder &b, Value t) {
              RowStats stats = emitRowStats(b, op.getFunction(), op.getInput(),
                                            t, numExperts);
              emitFor(b, 0, numExperts, [&](ImplicitLocOpBuilder &b, Value e) {
                Value x = emitToF32(b, load(b, op.getInput(), {t, e}));
                store(b, emitScore(b, op.getFunction(), x, stats),
                      op.getOutput(), {t, e});
              });
            });
    return {};
  }
};

struct TopKLowering : LoweringPattern<BufferTopKOp> {
  using LoweringPattern::LoweringPattern;
  Value lower(BufferTopKOp op, ImplicitLocOpBuilder &b) const override {
    Selector selector(b, op.getSelectionConfig());
    emitFor(b, 0, numTokens(b, op.getScores()),
            [&](ImplicitLocOpBuilder &b, Value t) {
              selector.select(b, [&](ImplicitLocOpBuilder &b, Value e) {
                Value s = load(b, op.getScores(), {t, e});
                return std::make_pair(addBias(b, s, op.getBias(), e), s);
              });
              emitStoreWinners(b, selector.best, t, op.getWeights(),
                               op.getIndices(), Value(), /*normalize=*/false,
                               APFloat(1.0f));
            });
    return {};
  }
};

struct RouteLowering : LoweringPattern<BufferRouteOp> {
  using LoweringPattern::LoweringPattern;
  Value lower(BufferRouteOp op, ImplicitLocOpBuilder &b) const override {
    SelectionConfig config = op.getSelectionConfig();
    emitFill(b, op.getCounts(),
             arith::ConstantIntOp::create(b, elementTypeOf(op.getCounts()), 0));
    Selector selector(b, config);
    emitFor(b, 0, numTokens(b, op.getLogits()),
            [&](ImplicitLocOpBuilder &b, Value t) {
              RowStats stats = emitRowStats(b, op.getFunction(), op.getLogits(),
                                            t, config.numExperts);
              selector.select(b, [&](ImplicitLocOpBuilder &b, Value e) {
                Value x = emitToF32(b, load(b, op.getLogits(), {t, e}));
                Value s = emitScore(b, op.getFunction(), x, stats);
                return std::make_pair(addBias(b, s, op.getBias(), e), s);
              });
              emitStoreWinners(b, selector.best, t, op.getWeights(),
                               op.getIndices(), op.getCounts(),
                               op.getNormalize(), op.getScale());
            });
    return {};
  }
};

struct NormalizeLowering : LoweringPattern<BufferNormalizeOp> {
  using LoweringPattern::LoweringPattern;
  Value lower(BufferNormalizeOp op, ImplicitLocOpBuilder &b) const override {
    int64_t k = op.getWeights().getType().getDimSize(1);
    Value numCols = ShapedType::isDynamic(k) ? dimOf(b, op.getWeights(), 1)
                                             : constIndex(b, k);
    Value zero = emitF32(b, 0.0);
    Value scale = emitF32(b, op.getScale().convertToFloat());
    emitFor(b, 0, numTokens(b, op.getWeights()),
            [&](ImplicitLocOpBuilder &b, Value t) {
              Value sum = emitForIter(
                  b, constIndex(b, 0), numCols, ValueRange{zero},
                  [&](ImplicitLocOpBuilder &b, Value j, ValueRange args) {
                    return SmallVector<Value>{arith::AddFOp::create(
                        b, args[0], load(b, op.getWeights(), {t, j}))};
                  })[0];
              emitFor(b, 0, numCols, [&](ImplicitLocOpBuilder &b, Value j) {
                Value w = load(b, op.getWeights(), {t, j});
                store(b, emitNormalizedWeight(b, w, sum, scale),
                      op.getOutput(), {t, j});
              });
            });
    return {};
  }
};

struct LoadLowering : LoweringPattern<BufferLoadOp> {
  using LoweringPattern::LoweringPattern;
  Value lower(BufferLoadOp op, ImplicitLocOpBuilder &b) const override {
    Value counts = op.getCounts();
    emitFill(b, counts,
             arith::ConstantIntOp::create(b, elementTypeOf(counts), 0));
    Value numExperts = constIndex(b, op.getNumExperts());
    Value k = dimOf(b, op.getIndices(), 1);
    emitFor(b, 0, numTokens(b, op.getIndices()),
            [&](ImplicitLocOpBuilder &b, Value t) {
              auto countRow = [&](ImplicitLocOpBuilder &b) {
                emitFor(b, 0, k, [&](ImplicitLocOpBuilder &b, Value j) {
                  Value e = load(b, op.getIndices(), {t, j});
                  emitIf(b, emitInRange(b, e, numExperts),
                         [&](ImplicitLocOpBuilder &b) {
                           emitIncrement(
                               b, counts,
                               castIndex(b, b.getIndexType(), e));
                         });
                });
              };
              if (op.getMask())
                emitIf(b, load(b, op.getMask(), t), countRow);
              else
                countRow(b);
            });
    return {};
  }
};

/// Sum of a row of loads: integers exactly in i64, floats in f32; returned
/// as f32 along with the row maximum (as f32).
std::pair<Value, Value> emitLoadSumMax(ImplicitLocOpBuilder &b, Value load,
                                       ValueRange prefix, int64_t numExperts) {
  Type type = elementTypeOf(load);
  bool isFloat = isa<FloatType>(type);
  Type accType = isFloat ? Type(b.getF32Type()) : Type(b.getI64Type());
  Value zero = isFloat ? emitF32(b, 0.0)
                       : arith::ConstantIntOp::create(b, b.getI64Type(), 0);
  Value negInf = emitF32(b, -std::numeric_limits<double>::infinity());
  SmallVector<Value> sumMax = emitForIter(
      b, 0, numExperts, ValueRange{zero, negInf},
      [&](ImplicitLocOpBuilder &b, Value e, ValueRange args) {
        SmallVector<Value> indices(prefix);
        indices.push_back(e);
        Value c = memref::LoadOp::create(b, load, indices);
        Value wide = c;
        if (!isFloat && type != accType)
          wide = arith::ExtSIOp::create(b, accType, c);
        Value sum = isFloat ? Value(arith::AddFOp::create(b, args[0], c))
                            : Value(arith::AddIOp::create(b, args[0], wide));
        Value max = arith::MaximumFOp::create(b, args[1], emitToF32(b, c));
        return SmallVector<Value>{sum, max};
      });
  return {emitToF32(b, sumMax[0]), sumMax[1]};
}

struct UpdateBiasLowering : LoweringPattern<BufferUpdateBiasOp> {
  using LoweringPattern::LoweringPattern;
  Value lower(BufferUpdateBiasOp op, ImplicitLocOpBuilder &b) const override {
    MemRefType biasType = op.getBias().getType();
    int64_t numExperts = biasType.getShape().back();
    bool batched = biasType.getRank() == 2;
    Value rate = emitF32(b, op.getRate().convertToFloat());
    Value numExpertsF = emitF32(b, static_cast<double>(numExperts));

    auto updateRow = [&](ImplicitLocOpBuilder &b, ValueRange prefix) {
      auto at = [&](Value e) {
        SmallVector<Value> indices(prefix);
        indices.push_back(e);
        return indices;
      };
      Value sum = emitLoadSumMax(b, op.getLoad(), prefix, numExperts).first;
      Value mean = arith::DivFOp::create(b, sum, numExpertsF);
      auto deltaOf = [&](ImplicitLocOpBuilder &b, Value e) -> Value {
        return emitBiasDelta(b, op.getRule(), rate, mean,
                             load(b, op.getLoad(), at(e)));
      };
      Value meanDelta;
      if (op.getCenter()) {
        Value deltaSum = emitForIter(
            b, 0, numExperts, ValueRange{emitF32(b, 0.0)},
            [&](ImplicitLocOpBuilder &b, Value e, ValueRange args) {
              return SmallVector<Value>{
                  arith::AddFOp::create(b, args[0], deltaOf(b, e))};
            })[0];
        meanDelta = arith::DivFOp::create(b, deltaSum, numExpertsF);
      }
      emitFor(b, 0, numExperts, [&](ImplicitLocOpBuilder &b, Value e) {
        Value delta = deltaOf(b, e);
        if (meanDelta)
          delta = arith::SubFOp::create(b, delta, meanDelta);
        Value bias = load(b, op.getBias(), at(e));
        store(b, arith::AddFOp::create(b, bias, delta), op.getOutput(), at(e));
      });
    };
    if (batched)
      emitFor(b, 0, dimOf(b, op.getBias(), 0),
              [&](ImplicitLocOpBuilder &b, Value l) { updateRow(b, l); });
    else
      updateRow(b, {});
    return {};
  }
};

struct ImbalanceLowering : LoweringPattern<BufferImbalanceOp> {
  using LoweringPattern::LoweringPattern;
  Value lower(BufferImbalanceOp op, ImplicitLocOpBuilder &b) const override {
    int64_t numExperts = op.getLoad().getType().getDimSize(0);
    auto [sum, max] = emitLoadSumMax(b, op.getLoad(), {}, numExperts);
    return emitMaxVio(b, sum, max, numExperts);
  }
};

struct DispatchLowering : LoweringPattern<BufferDispatchOp> {
  using LoweringPattern::LoweringPattern;
  Value lower(BufferDispatchOp op, ImplicitLocOpBuilder &b) const override {
    int64_t numExperts = op.getNumExperts();
    int64_t block = op.getBlock();
    Value indices = op.getIndices();
    Value numExpertsValue = constIndex(b, numExperts);
    Value k = dimOf(b, indices, 1);
    Value tokens = numTokens(b, indices);
    Value rows = dimOf(b, op.getTokenIds(), 0);
    Value zero = constIndex(b, 0);
    Value one = constIndex(b, 1);

    // next[e]: the next free row of expert e; end[e]: one past its last kept
    // row. Before the prefix pass, end[e] holds the count of expert e.
    auto expertRow = MemRefType::get({numExperts}, b.getIndexType());
    Value next = createScratch(b, expertRow);
    Value end = createScratch(b, expertRow);
    emitFill(b, end, zero);

    auto forEachValidPair = [&](function_ref<void(ImplicitLocOpBuilder &,
                                                  Value, Value, Value)>
                                    body,
                                function_ref<void(ImplicitLocOpBuilder &, Value,
                                                  Value)>
                                    invalid) {
      emitFor(b, 0, tokens, [&](ImplicitLocOpBuilder &b, Value t) {
        emitFor(b, 0, k, [&](ImplicitLocOpBuilder &b, Value j) {
          Value e = load(b, indices, {t, j});
          Value valid = emitInRange(b, e, numExpertsValue);
          scf::IfOp::create(
              b, valid,
              [&](OpBuilder &nested, Location loc) {
                ImplicitLocOpBuilder ib(loc, nested);
                body(ib, t, j, castIndex(ib, ib.getIndexType(), e));
                scf::YieldOp::create(ib);
              },
              [&](OpBuilder &nested, Location loc) {
                ImplicitLocOpBuilder ib(loc, nested);
                if (invalid)
                  invalid(ib, t, j);
                scf::YieldOp::create(ib);
              });
        });
      });
    };

    // 1. Count the pairs of each expert.
    forEachValidPair(
        [&](ImplicitLocOpBuilder &b, Value, Value, Value e) {
          store(b, arith::AddIOp::create(b, load(b, end, e), one), end, e);
        },
        nullptr);

    // 2. Offsets: kept = min(count, capacity), padded to a block multiple.
    Type offsetType = elementTypeOf(op.getOffsets());
    store(b, arith::ConstantIntOp::create(b, offsetType, 0), op.getOffsets(),
          zero);
    Value blockValue = constIndex(b, block);
    emitForIter(
        b, 0, numExperts, ValueRange{zero},
        [&](ImplicitLocOpBuilder &b, Value e, ValueRange args) {
          Value start = args[0];
          Value kept = load(b, end, e);
          if (std::optional<int64_t> capacity = op.getCapacity())
            kept = arith::MinUIOp::create(b, kept, constIndex(b, *capacity));
          Value padded = kept;
          if (block != 1)
            padded = arith::MulIOp::create(
                b, arith::CeilDivUIOp::create(b, kept, blockValue), blockValue);
          Value segmentEnd = arith::AddIOp::create(b, start, padded);
          store(b, start, next, e);
          store(b, arith::AddIOp::create(b, start, kept), end, e);
          Value nextExpert = arith::AddIOp::create(b, e, one);
          store(b, castIndex(b, offsetType, segmentEnd), op.getOffsets(),
                nextExpert);
          return SmallVector<Value>{segmentEnd};
        });

    // 3. Every row starts as padding; kept pairs fill their rows in
    //    ascending (t, j) order.
    Type tokenType = elementTypeOf(op.getTokenIds());
    Type slotType = elementTypeOf(op.getSlots());
    emitFill(b, op.getTokenIds(),
             arith::ConstantIntOp::create(b, tokenType, -1));
    Value dropped = arith::ConstantIntOp::create(b, slotType, -1);
    forEachValidPair(
        [&](ImplicitLocOpBuilder &b, Value t, Value j, Value e) {
          Value row = load(b, next, e);
          Value kept = arith::AndIOp::create(
              b,
              arith::CmpIOp::create(b, arith::CmpIPredicate::ult, row,
                                    load(b, end, e)),
              arith::CmpIOp::create(b, arith::CmpIPredicate::ult, row, rows));
          Value slot = arith::SelectOp::create(
              b, kept, castIndex(b, slotType, row), dropped);
          store(b, slot, op.getSlots(), {t, j});
          emitIf(b, kept, [&](ImplicitLocOpBuilder &b) {
            store(b, castIndex(b, tokenType, t), op.getTokenIds(), row);
            store(b, arith::AddIOp::create(b, row, one), next, e);
          });
        },
        [&](ImplicitLocOpBuilder &b, Value t, Value j) {
          store(b, dropped, op.getSlots(), {t, j});
        });
    return {};
  }
};

struct PermuteLowering : LoweringPattern<BufferPermuteOp> {
  using LoweringPattern::LoweringPattern;
  Value lower(BufferPermuteOp op, ImplicitLocOpBuilder &b) const override {
    Value input = op.getInput(), output = op.getOutput();
    Value tokens = numTokens(b, input);
    Value width = dimOf(b, input, 1);
    Type elementType = elementTypeOf(input);
    Value zero =
        arith::ConstantOp::create(b, cast<TypedAttr>(b.getZeroAttr(elementType)));
    emitFor(b, 0, dimOf(b, output, 0), [&](ImplicitLocOpBuilder &b, Value p) {
      Value id = load(b, op.getTokenIds(), p);
      Value valid = emitInRange(b, id, tokens);
      scf::IfOp::create(
          b, valid,
          [&](OpBuilder &nested, Location loc) {
            ImplicitLocOpBuilder ib(loc, nested);
            Value t = castIndex(ib, ib.getIndexType(), id);
            emitFor(ib, 0, width, [&](ImplicitLocOpBuilder &b, Value h) {
              store(b, load(b, input, {t, h}), output, {p, h});
            });
            scf::YieldOp::create(ib);
          },
          [&](OpBuilder &nested, Location loc) {
            ImplicitLocOpBuilder ib(loc, nested);
            emitFor(ib, 0, width, [&](ImplicitLocOpBuilder &b, Value h) {
              store(b, zero, output, {p, h});
            });
            scf::YieldOp::create(ib);
          });
    });
    return {};
  }
};

struct CombineLowering : LoweringPattern<BufferCombineOp> {
  using LoweringPattern::LoweringPattern;
  Value lower(BufferCombineOp op, ImplicitLocOpBuilder &b) const override {
    Value width = dimOf(b, op.getExpertOut(), 1);
    emitFor(b, 0, numTokens(b, op.getWeights()),
            [&](ImplicitLocOpBuilder &b, Value t) {
              emitFor(b, 0, width, [&](ImplicitLocOpBuilder &b, Value h) {
                store(b,
                      emitCombineElement(b, op.getExpertOut(), op.getWeights(),
                                         op.getSlots(), t, h),
                      op.getOutput(), {t, h});
              });
            });
    return {};
  }
};

struct ConvertMoEToLoopsPass
    : public moe::impl::ConvertMoEToLoopsBase<ConvertMoEToLoopsPass> {
  void runOnOperation() override {
    ConversionTarget target(getContext());
    target.addLegalDialect<arith::ArithDialect, math::MathDialect,
                           memref::MemRefDialect, scf::SCFDialect>();
    target.addIllegalOp<BufferScoreOp, BufferTopKOp, BufferNormalizeOp,
                        BufferLoadOp, BufferUpdateBiasOp, BufferImbalanceOp,
                        BufferRouteOp, BufferDispatchOp, BufferPermuteOp,
                        BufferCombineOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(&getContext());
    populateMoEToLoopsPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::moe::populateMoEToLoopsPatterns(RewritePatternSet &patterns) {
  patterns.add<ScoreLowering, TopKLowering, RouteLowering, NormalizeLowering,
               LoadLowering, UpdateBiasLowering, ImbalanceLowering,
               DispatchLowering, PermuteLowering, CombineLowering>(
      patterns.getContext());
}

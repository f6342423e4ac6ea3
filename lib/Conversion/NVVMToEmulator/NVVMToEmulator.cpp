//===- NVVMToEmulator.cpp - NVVM ops as GPU emulator calls ----------------===//
//
// Part of moe-mlir.
//
// One pattern per NVVM op that the GPU emulator runs: each becomes a call of
// its runtime (include/moe/Runtime/GpuEmulatorABI.h). Ops the emulator does
// not provide are left for the pass to report.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/NVVMToEmulator/NVVMToEmulator.h"

#include "RuntimeFunctions.h"
#include "moe/Runtime/GpuEmulatorABI.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

/// The declaration of `function` in the module around `op`, or a match
/// failure.
FailureOr<LLVM::LLVMFuncOp> getRuntimeFunction(PatternRewriter &rewriter,
                                               Operation *op,
                                               RuntimeFunction function) {
  auto module = op->getParentOfType<ModuleOp>();
  if (!module)
    return rewriter.notifyMatchFailure(op, "not inside a builtin.module");
  LLVM::LLVMFuncOp callee =
      lookupOrDeclareRuntimeFunction(rewriter, module, function);
  if (!callee)
    return rewriter.notifyMatchFailure(op, [&](Diagnostic &diag) {
      diag << "'" << getRuntimeFunctionName(function)
           << "' names another symbol";
    });
  return callee;
}

/// A special register read becomes moeEmuSpecialRegister(code).
template <typename SourceOp, int32_t Code>
struct SpecialRegisterToCall : OpRewritePattern<SourceOp> {
  using OpRewritePattern<SourceOp>::OpRewritePattern;

  LogicalResult matchAndRewrite(SourceOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getType().isInteger(32))
      return rewriter.notifyMatchFailure(op, "not an i32 register");
    FailureOr<LLVM::LLVMFuncOp> callee =
        getRuntimeFunction(rewriter, op, RuntimeFunction::SpecialRegister);
    if (failed(callee))
      return failure();
    Value code = createI32Constant(rewriter, op.getLoc(), Code);
    rewriter.replaceOpWithNewOp<LLVM::CallOp>(op, *callee, code);
    return success();
  }
};

int32_t getShuffleCode(NVVM::ShflKind kind) {
  switch (kind) {
  case NVVM::ShflKind::bfly:
    return MOE_EMU_SHFL_BFLY;
  case NVVM::ShflKind::up:
    return MOE_EMU_SHFL_UP;
  case NVVM::ShflKind::down:
    return MOE_EMU_SHFL_DOWN;
  case NVVM::ShflKind::idx:
    return MOE_EMU_SHFL_IDX;
  }
  llvm_unreachable("unknown shuffle kind");
}

/// shfl.sync becomes moeEmuShuffle on the value's 32 bits, and
/// moeEmuShufflePredicate for the valid flag.
struct ShuffleToCall : OpRewritePattern<NVVM::ShflOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(NVVM::ShflOp op,
                                PatternRewriter &rewriter) const override {
    Value value = op.getVal();
    Type valueType = value.getType();
    Type i32 = rewriter.getI32Type();
    if (!valueType.isIntOrFloat() || valueType.getIntOrFloatBitWidth() != 32)
      return rewriter.notifyMatchFailure(op, "not a 32-bit value");
    FailureOr<LLVM::LLVMFuncOp> shuffle =
        getRuntimeFunction(rewriter, op, RuntimeFunction::Shuffle);
    if (failed(shuffle))
      return failure();
    FailureOr<LLVM::LLVMFuncOp> predicate;
    if (op.getReturnValueAndIsValid()) {
      predicate =
          getRuntimeFunction(rewriter, op, RuntimeFunction::ShufflePredicate);
      if (failed(predicate))
        return failure();
    }

    Location loc = op.getLoc();
    if (valueType != i32)
      value = LLVM::BitcastOp::create(rewriter, loc, i32, value);
    Value kind = createI32Constant(rewriter, loc, getShuffleCode(op.getKind()));
    Value result = LLVM::CallOp::create(rewriter, loc, *shuffle,
                                        ValueRange{kind, op.getThreadMask(),
                                                   value, op.getOffset(),
                                                   op.getMaskAndClamp()})
                       .getResult();
    if (valueType != i32)
      result = LLVM::BitcastOp::create(rewriter, loc, valueType, result);
    if (op.getReturnValueAndIsValid()) {
      Value flag = LLVM::CallOp::create(rewriter, loc, *predicate, ValueRange{})
                       .getResult();
      Value valid =
          LLVM::ICmpOp::create(rewriter, loc, LLVM::ICmpPredicate::ne, flag,
                               createI32Constant(rewriter, loc, 0));
      Value pair = LLVM::PoisonOp::create(rewriter, loc, op.getType());
      pair = LLVM::InsertValueOp::create(rewriter, loc, pair, result,
                                         ArrayRef<int64_t>{0});
      result = LLVM::InsertValueOp::create(rewriter, loc, pair, valid,
                                           ArrayRef<int64_t>{1});
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// The GpuEmulatorABI.h code of an integer redux.sync.
std::optional<int32_t> getReduxCode(NVVM::ReduxKind kind) {
  switch (kind) {
  case NVVM::ReduxKind::ADD:
    return MOE_EMU_REDUX_ADD;
  case NVVM::ReduxKind::AND:
    return MOE_EMU_REDUX_AND;
  case NVVM::ReduxKind::OR:
    return MOE_EMU_REDUX_OR;
  case NVVM::ReduxKind::XOR:
    return MOE_EMU_REDUX_XOR;
  case NVVM::ReduxKind::MIN:
    return MOE_EMU_REDUX_MIN;
  case NVVM::ReduxKind::MAX:
    return MOE_EMU_REDUX_MAX;
  case NVVM::ReduxKind::UMIN:
    return MOE_EMU_REDUX_UMIN;
  case NVVM::ReduxKind::UMAX:
    return MOE_EMU_REDUX_UMAX;
  default:
    return std::nullopt;
  }
}

/// redux.sync on 32-bit integers becomes moeEmuRedux(kind, value, mask).
struct ReduxToCall : OpRewritePattern<NVVM::ReduxOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(NVVM::ReduxOp op,
                                PatternRewriter &rewriter) const override {
    std::optional<int32_t> code = getReduxCode(op.getKind());
    if (!code)
      return rewriter.notifyMatchFailure(op, "a floating-point reduction");
    if (!op.getType().isInteger(32))
      return rewriter.notifyMatchFailure(op, "not an i32 reduction");
    FailureOr<LLVM::LLVMFuncOp> callee =
        getRuntimeFunction(rewriter, op, RuntimeFunction::Redux);
    if (failed(callee))
      return failure();
    Value kind = createI32Constant(rewriter, op.getLoc(), *code);
    rewriter.replaceOpWithNewOp<LLVM::CallOp>(
        op, *callee, ValueRange{kind, op.getVal(), op.getMaskAndClamp()});
    return success();
  }
};

/// Replaces `op`, a barrier of the whole block, with moeEmuBarrier().
LogicalResult replaceWithBarrierCall(Operation *op,
                                     PatternRewriter &rewriter) {
  FailureOr<LLVM::LLVMFuncOp> callee =
      getRuntimeFunction(rewriter, op, RuntimeFunction::Barrier);
  if (failed(callee))
    return failure();
  rewriter.replaceOpWithNewOp<LLVM::CallOp>(op, *callee, ValueRange{});
  return success();
}

/// barrier0 becomes moeEmuBarrier().
struct Barrier0ToCall : OpRewritePattern<NVVM::Barrier0Op> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(NVVM::Barrier0Op op,
                                PatternRewriter &rewriter) const override {
    return replaceWithBarrierCall(op, rewriter);
  }
};

/// A barrier without id, thread count or reduction becomes moeEmuBarrier().
struct BarrierToCall : OpRewritePattern<NVVM::BarrierOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(NVVM::BarrierOp op,
                                PatternRewriter &rewriter) const override {
    if (op->getNumOperands() != 0 || op->getNumResults() != 0 ||
        op.getReductionOp())
      return rewriter.notifyMatchFailure(
          op, "a named, counted or reducing barrier");
    return replaceWithBarrierCall(op, rewriter);
  }
};

} // namespace

void moe::populateNVVMToEmulatorPatterns(RewritePatternSet &patterns) {
  patterns.add<
      SpecialRegisterToCall<NVVM::ThreadIdXOp, MOE_EMU_SREG_TID_X>,
      SpecialRegisterToCall<NVVM::ThreadIdYOp, MOE_EMU_SREG_TID_Y>,
      SpecialRegisterToCall<NVVM::ThreadIdZOp, MOE_EMU_SREG_TID_Z>,
      SpecialRegisterToCall<NVVM::BlockDimXOp, MOE_EMU_SREG_NTID_X>,
      SpecialRegisterToCall<NVVM::BlockDimYOp, MOE_EMU_SREG_NTID_Y>,
      SpecialRegisterToCall<NVVM::BlockDimZOp, MOE_EMU_SREG_NTID_Z>,
      SpecialRegisterToCall<NVVM::BlockIdXOp, MOE_EMU_SREG_CTAID_X>,
      SpecialRegisterToCall<NVVM::BlockIdYOp, MOE_EMU_SREG_CTAID_Y>,
      SpecialRegisterToCall<NVVM::BlockIdZOp, MOE_EMU_SREG_CTAID_Z>,
      SpecialRegisterToCall<NVVM::GridDimXOp, MOE_EMU_SREG_NCTAID_X>,
      SpecialRegisterToCall<NVVM::GridDimYOp, MOE_EMU_SREG_NCTAID_Y>,
      SpecialRegisterToCall<NVVM::GridDimZOp, MOE_EMU_SREG_NCTAID_Z>,
      SpecialRegisterToCall<NVVM::LaneIdOp, MOE_EMU_SREG_LANEID>,
      SpecialRegisterToCall<NVVM::WarpSizeOp, MOE_EMU_SREG_WARPSIZE>,
      ShuffleToCall, ReduxToCall, Barrier0ToCall, BarrierToCall>(
      patterns.getContext());
}

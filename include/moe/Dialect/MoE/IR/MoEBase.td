//===- MoEBase.td - moe dialect definition -----------------*- tablegen -*-===//
//
// The `moe` dialect: Mixture-of-Experts routing with auxiliary-loss-free load
// balancing. See docs/ and ../shared/spec/moe-dialect.md (the contract).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_IR_MOEBASE_TD
#define MOE_DIALECT_MOE_IR_MOEBASE_TD

include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/DialectBase.td"
include "mlir/IR/EnumAttr.td"
include "mlir/IR/OpBase.td"

def MoE_Dialect : Dialect {
  let name = "moe";
  let cppNamespace = "::mlir::moe";
  let summary = "Mixture-of-Experts routing with auxiliary-loss-free load "
                "balancing";
  let description = [{
    The `moe` dialect models the routing step of a Mixture-of-Experts layer:
    router scores, biased and group-limited top-K expert selection, gate
    weight normalisation, expert load counting, the auxiliary-loss-free bias
    update (`bias += rate * sign(mean_load - load)`), the MaxVio imbalance
    metric, and the dispatch / permute / combine of token rows to and from
    experts.

    Tensor-level ops have value semantics and bufferize (one-shot) into the
    `moe.buffer.*` ops, which read and write memrefs in destination-passing
    style. The CPU and GPU lowerings both start from the buffer ops.
  }];
  let hasConstantMaterializer = 1;
}

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

// Printed as bare keywords in the custom form, as arith's predicates are:
// `moe.score sigmoid %x`, `moe.update_bias sign %b, %c`.

def MoE_ScoreFunction : I32EnumAttr<"ScoreFunction",
    "router score function", [
      I32EnumAttrCase<"sigmoid", 0>,
      I32EnumAttrCase<"softmax", 1>,
      I32EnumAttrCase<"sqrtsoftplus", 2>
    ]> {
  let cppNamespace = "::mlir::moe";
}

def MoE_UpdateRule : I32EnumAttr<"UpdateRule",
    "expert bias update rule", [
      I32EnumAttrCase<"sign", 0>,
      I32EnumAttrCase<"linear", 1>
    ]> {
  let cppNamespace = "::mlir::moe";
}

//===----------------------------------------------------------------------===//
// Attribute constraints
//===----------------------------------------------------------------------===//

// F32Attr whose constraint failure says how to write one: a bare `2.5` in an
// attribute dictionary is an f64.
def MoE_F32Attr : FloatAttrBase<F32,
    "32-bit float attribute (write the type: `2.5 : f32`, not `2.5`)">;

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

// Element types are constrained here; ranks, static extents and the relations
// between operands are checked by the verifiers, which name the operand and
// the rule in their diagnostics.
def MoE_LogitTensor : RankedTensorOf<[F32, F16, BF16]>;
def MoE_F32Tensor : RankedTensorOf<[F32]>;
def MoE_FloatTensor : RankedTensorOf<[AnyFloat]>;
def MoE_IndexTensor : RankedTensorOf<[I32, I64]>;
def MoE_MaskTensor : RankedTensorOf<[I1]>;
def MoE_LoadTensor : RankedTensorOf<[I32, I64, F32]>;
def MoE_AnyTensor : RankedTensorOf<[AnyType]>;

def MoE_LogitMemRef : MemRefOf<[F32, F16, BF16]>;
def MoE_F32MemRef : MemRefOf<[F32]>;
def MoE_FloatMemRef : MemRefOf<[AnyFloat]>;
def MoE_IndexMemRef : MemRefOf<[I32, I64]>;
def MoE_MaskMemRef : MemRefOf<[I1]>;
def MoE_LoadMemRef : MemRefOf<[I32, I64, F32]>;
def MoE_AnyMemRef : MemRefOf<[AnyType]>;

#endif // MOE_DIALECT_MOE_IR_MOEBASE_TD

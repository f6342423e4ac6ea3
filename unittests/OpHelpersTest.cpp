//===- OpHelpersTest.cpp - C++ helpers of parsed moe ops ------------------===//

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/InitAll.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include "gtest/gtest.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

class OpHelpersTest : public ::testing::Test {
protected:
  OpHelpersTest() {
    DialectRegistry registry;
    registry.insert<func::FuncDialect>();
    moe::registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  /// Parses `body` as the body of a function and returns its first op of
  /// type OpTy.
  template <typename OpTy>
  OpTy parseFirst(StringRef signature, StringRef body) {
    std::string source = ("func.func @f(" + signature + ") {\n" + body +
                          "\n  return\n}\n")
                             .str();
    module = parseSourceString<ModuleOp>(source, &context);
    if (!module)
      return {};
    OpTy result;
    module->walk([&](OpTy op) {
      if (!result)
        result = op;
    });
    return result;
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
};

TEST_F(OpHelpersTest, RouteSelectionConfig) {
  auto route = parseFirst<RouteOp>(
      "%x: tensor<?x256xbf16>, %b: tensor<256xf32>",
      "%w, %i, %c = moe.route sigmoid %x bias(%b) {k = 8, num_groups = 8, "
      "topk_groups = 4, normalize, scale = 2.5 : f32} : tensor<?x256xbf16>, "
      "tensor<256xf32> -> tensor<?x8xf32>, tensor<?x8xi32>, tensor<256xi32>");
  ASSERT_TRUE(route);
  SelectionConfig config = route.getSelectionConfig();
  EXPECT_EQ(config.numExperts, 256);
  EXPECT_EQ(config.k, 8);
  EXPECT_EQ(config.numGroups, 8);
  EXPECT_EQ(config.topkGroups, 4);
  EXPECT_EQ(config.groupTop, 2);
  EXPECT_TRUE(route.getNormalize());
  EXPECT_EQ(route.getScale().convertToFloat(), 2.5f);
}

TEST_F(OpHelpersTest, DispatchRowsWithoutCapacity) {
  auto dispatch = parseFirst<DispatchOp>(
      "%i: tensor<?x8xi32>",
      "%o, %t, %s = moe.dispatch %i {num_experts = 256, block = 64} : "
      "tensor<?x8xi32> -> tensor<257xi32>, tensor<?xi32>, tensor<?x8xi32>");
  ASSERT_TRUE(dispatch);
  // P = T * K + E * (block - 1).
  EXPECT_EQ(dispatch.getNumRows(100), 100 * 8 + 256 * 63);
  EXPECT_EQ(dispatch.getNumRows(ShapedType::kDynamic), ShapedType::kDynamic);
}

TEST_F(OpHelpersTest, DispatchRowsWithCapacity) {
  auto dispatch = parseFirst<DispatchOp>(
      "%i: tensor<512x2xi32>",
      "%o, %t, %s = moe.dispatch %i {num_experts = 64, capacity = 100, "
      "block = 16} : tensor<512x2xi32> -> tensor<65xi32>, tensor<7168xi32>, "
      "tensor<512x2xi32>");
  ASSERT_TRUE(dispatch);
  // P = E * roundup(C, block), whatever T is.
  EXPECT_EQ(dispatch.getNumRows(512), 64 * 112);
  EXPECT_EQ(dispatch.getNumRows(ShapedType::kDynamic), 64 * 112);
}

TEST_F(OpHelpersTest, InvalidProgramIsRejectedNotCrashed) {
  context.getDiagEngine().registerHandler([](Diagnostic &) {});
  auto topk = parseFirst<TopKOp>(
      "%s: tensor<?x8xf32>, %b: tensor<8xbf16>",
      "%w, %i = moe.topk %s bias(%b) {k = 2} : tensor<?x8xf32>, "
      "tensor<8xbf16> -> tensor<?x2xf32>, tensor<?x2xi32>");
  EXPECT_FALSE(topk);
  EXPECT_FALSE(module);
}

} // namespace

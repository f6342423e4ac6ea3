// RUN: moe-opt %s --moe-convert-mpi-to-llvm --verify-diagnostics

// A collective that no earlier pass lowered cannot reach the runner.
shard.grid @g(shape = 4)
func.func @left(%t: tensor<8xi32>) -> tensor<8xi32> {
  // expected-error @+1 {{'shard.all_reduce' op is left after the distributed lowering}}
  %a = shard.all_reduce %t on @g grid_axes = [0] : tensor<8xi32> -> tensor<8xi32>
  return %a : tensor<8xi32>
}

// RUN: moe-opt %s --moe-shard-world-to-mpi --split-input-file --verify-diagnostics

shard.grid @dp(shape = ?)
func.func @average(%t: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{reduction 'average' has no MPI equivalent}}
  %a = shard.all_reduce %t on @dp grid_axes = [0] reduction = average : tensor<8xf32> -> tensor<8xf32>
  return %a : tensor<8xf32>
}

// -----

shard.grid @dp(shape = ?)
func.func @element_type(%t: tensor<8xi32>) -> tensor<8xi64> {
  // expected-error @+1 {{on a 1-D grid of dynamic size must keep the shape and element type}}
  %a = shard.all_reduce %t on @dp grid_axes = [0] : tensor<8xi32> -> tensor<8xi64>
  return %a : tensor<8xi64>
}

// -----

shard.grid @dp(shape = ?)
func.func @shape(%t: tensor<?xi32>) -> tensor<8xi32> {
  // expected-error @+1 {{on a 1-D grid of dynamic size must keep the shape and element type}}
  %a = shard.all_reduce %t on @dp grid_axes = [0] : tensor<?xi32> -> tensor<8xi32>
  return %a : tensor<8xi32>
}

// -----

shard.grid @dp(shape = ?)
func.func @no_axes(%t: tensor<8xi32>) -> tensor<8xi32> {
  // expected-error @+1 {{on a 1-D grid of dynamic size must reduce over grid_axes = [0]}}
  %a = shard.all_reduce %t on @dp grid_axes = [] : tensor<8xi32> -> tensor<8xi32>
  return %a : tensor<8xi32>
}

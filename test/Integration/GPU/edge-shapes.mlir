// Edge shapes that verify must lower through both pipelines: E = 1, a static
// T = 0, E not a multiple of 8 or 32 with single-expert groups, and the
// largest warp selection (E = 1024, K = 32, 64 groups of which group_top = 16
// are summed: the group rounds must stay loops, or the kernel explodes).
// RUN: moe-opt %s --moe-lower-to-cpu | FileCheck %s --check-prefix=CPU
// RUN: moe-opt %s --moe-lower-to-cpu="fuse-routing=0" | FileCheck %s --check-prefix=CPU
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa" | FileCheck %s --check-prefix=GPU

// CPU-NOT: moe.
// CPU: llvm.func @e1(
// CPU: llvm.func @kE(
// GPU-NOT: moe.
// GPU: gpu.binary
func.func @e1(%x: tensor<?x1xf32>) -> (tensor<?x1xf32>, tensor<?x1xi32>, tensor<1xi32>) {
  %w, %i, %c = moe.route sigmoid %x {k = 1, normalize} : tensor<?x1xf32> -> tensor<?x1xf32>, tensor<?x1xi32>, tensor<1xi32>
  return %w, %i, %c : tensor<?x1xf32>, tensor<?x1xi32>, tensor<1xi32>
}
func.func @t0(%x: tensor<0x8xf32>) -> (tensor<0x2xf32>, tensor<0x2xi32>, tensor<8xi32>) {
  %w, %i, %c = moe.route softmax %x {k = 2} : tensor<0x8xf32> -> tensor<0x2xf32>, tensor<0x2xi32>, tensor<8xi32>
  return %w, %i, %c : tensor<0x2xf32>, tensor<0x2xi32>, tensor<8xi32>
}
func.func @odd(%x: tensor<?x13xbf16>, %b: tensor<13xf32>) -> (tensor<?x3xf32>, tensor<?x3xi64>) {
  %s = moe.score sqrtsoftplus %x : tensor<?x13xbf16> -> tensor<?x13xf32>
  %w, %i = moe.topk %s bias(%b) {k = 3, num_groups = 13, topk_groups = 3} : tensor<?x13xf32>, tensor<13xf32> -> tensor<?x3xf32>, tensor<?x3xi64>
  return %w, %i : tensor<?x3xf32>, tensor<?x3xi64>
}
func.func @kE(%x: tensor<5x1024xf16>) -> (tensor<5x32xf32>, tensor<5x32xi32>) {
  %s = moe.score sigmoid %x : tensor<5x1024xf16> -> tensor<5x1024xf32>
  %w, %i = moe.topk %s {k = 32, num_groups = 64, topk_groups = 2, group_top = 16} : tensor<5x1024xf32> -> tensor<5x32xf32>, tensor<5x32xi32>
  return %w, %i : tensor<5x32xf32>, tensor<5x32xi32>
}

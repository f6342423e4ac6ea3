// Auxiliary-loss-free load balancing, end to end.
//
// A synthetic router over 64 experts (top-6, sigmoid scores) prefers some
// experts over others, and its preferences drift from step to step. Each step
// routes a batch of tokens with `moe.route`, measures MaxVio with
// `moe.imbalance`, and moves the expert bias with `moe.update_bias` from that
// batch's counts, used by the next batch. The same batches are also routed
// without a bias, for contrast.
//
// Output, one line per step:  step, MaxVio with the bias, MaxVio without.
//
// Run (scripts/demo does this):
//   moe-opt examples/loss_free_balance.mlir --moe-lower-to-cpu |
//     mlir-runner -e main --entry-point-result=void \
//       --shared-libs=<llvm lib>/libmlir_runner_utils.so,<llvm lib>/libmlir_c_runner_utils.so
//
// scripts/plot_balance.py rewrites the `rate` and the rule of the update below
// to draw the curves of docs/balance.md.

module {
  func.func private @printI64(i64)
  func.func private @printF32(f32)
  func.func private @printComma()
  func.func private @printNewline()

  // A hash of (token, expert, step) mapped to [-1, 1).
  func.func private @noise(%t: index, %e: index, %step: index) -> f32 {
    %ti = arith.index_cast %t : index to i32
    %ei = arith.index_cast %e : index to i32
    %si = arith.index_cast %step : index to i32
    %p1 = arith.constant 73856093 : i32
    %p2 = arith.constant 19349663 : i32
    %p3 = arith.constant 83492791 : i32
    %a = arith.muli %ti, %p1 : i32
    %b = arith.muli %ei, %p2 : i32
    %c = arith.muli %si, %p3 : i32
    %ab = arith.xori %a, %b : i32
    %h0 = arith.xori %ab, %c : i32
    // Two rounds of a multiply-xorshift mixer.
    %m = arith.constant -1640531535 : i32
    %s15 = arith.constant 15 : i32
    %h1 = arith.muli %h0, %m : i32
    %h1s = arith.shrui %h1, %s15 : i32
    %h2 = arith.xori %h1, %h1s : i32
    %h3 = arith.muli %h2, %m : i32
    %h3s = arith.shrui %h3, %s15 : i32
    %h4 = arith.xori %h3, %h3s : i32
    %mask = arith.constant 16777215 : i32
    %low = arith.andi %h4, %mask : i32
    %f = arith.uitofp %low : i32 to f32
    %scale = arith.constant 1.1920929e-07 : f32   // 2 / 2^24
    %one = arith.constant 1.0 : f32
    %u = arith.mulf %f, %scale : f32
    %r = arith.subf %u, %one : f32
    return %r : f32
  }

  // Router logits of one batch: a per-expert preference that drifts with the
  // step, plus per-token noise.
  func.func private @logits(%tokens: index, %step: index) -> tensor<?x64xf32> {
    %x = tensor.generate %tokens {
    ^bb0(%t: index, %e: index):
      %ef = arith.index_cast %e : index to i32
      %eff = arith.sitofp %ef : i32 to f32
      %si = arith.index_cast %step : index to i32
      %sf = arith.sitofp %si : i32 to f32
      // preference(e, step) = 0.6 * sin(2.4 e + step / 150)
      %c24 = arith.constant 2.4 : f32
      %w = arith.constant 6.6666666e-03 : f32
      %amp = arith.constant 0.6 : f32
      %phase = arith.mulf %eff, %c24 : f32
      %drift = arith.mulf %sf, %w : f32
      %arg = arith.addf %phase, %drift : f32
      %sin = math.sin %arg : f32
      %pref = arith.mulf %sin, %amp : f32
      %n = func.call @noise(%t, %e, %step) : (index, index, index) -> f32
      %namp = arith.constant 0.5 : f32
      %ns = arith.mulf %n, %namp : f32
      %v = arith.addf %pref, %ns : f32
      tensor.yield %v : f32
    } : tensor<?x64xf32>
    return %x : tensor<?x64xf32>
  }

  func.func @main() {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %steps = arith.constant 300 : index
    %tokens = arith.constant 16384 : index
    %bias0 = arith.constant dense<0.0> : tensor<64xf32>
    %final = scf.for %step = %c0 to %steps step %c1
        iter_args(%bias = %bias0) -> (tensor<64xf32>) {
      %x = func.call @logits(%tokens, %step) : (index, index) -> tensor<?x64xf32>
      %w, %i, %c = moe.route sigmoid %x bias(%bias) {k = 6, normalize}
          : tensor<?x64xf32>, tensor<64xf32>
          -> tensor<?x6xf32>, tensor<?x6xi32>, tensor<64xi32>
      %vio = moe.imbalance %c : tensor<64xi32> -> f32
      %w0, %i0, %c0n = moe.route sigmoid %x {k = 6, normalize}
          : tensor<?x64xf32> -> tensor<?x6xf32>, tensor<?x6xi32>, tensor<64xi32>
      %vio0 = moe.imbalance %c0n : tensor<64xi32> -> f32
      %next = moe.update_bias sign %bias, %c {rate = 1.0e-03 : f32}
          : tensor<64xf32>, tensor<64xi32>
      %s = arith.index_cast %step : index to i64
      func.call @printI64(%s) : (i64) -> ()
      func.call @printComma() : () -> ()
      func.call @printF32(%vio) : (f32) -> ()
      func.call @printComma() : () -> ()
      func.call @printF32(%vio0) : (f32) -> ()
      func.call @printNewline() : () -> ()
      scf.yield %next : tensor<64xf32>
    }
    return
  }
}

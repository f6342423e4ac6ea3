// Auxiliary-loss-free load balancing, data-parallel (docs/distributed.md).
//
// The job of examples/loss_free_balance.mlir split over the ranks of an MPI
// job: each step's global batch of 16384 tokens is cut into one contiguous
// shard per rank (the last rank takes the remainder). Every rank routes its
// shard with `moe.route`, the per-expert counts are summed over all ranks with
// one `shard.all_reduce` (64 integers), and every rank moves the same bias with
// `moe.update_bias` from the global counts. The bias, and so every routing
// decision, is the one a single process computes on the whole batch, for any
// number of ranks.
//
// Output (rank 0), one line per step:
//   step, global MaxVio (all ranks' counts), local MaxVio (rank 0's shard)
//
// Run (scripts/demo --ranks 4 does this):
//   moe-opt examples/loss_free_balance_dp.mlir --moe-lower-to-cpu -o dp.mlir
//   mpiexec -n 4 mlir-runner dp.mlir -e main --entry-point-result=void \
//     --shared-libs=<llvm lib>/libmlir_runner_utils.so,<llvm lib>/libmlir_c_runner_utils.so,<libmpich.so>

module {
  // All ranks of the job, however many `mpiexec -n` starts.
  shard.grid @dp(shape = ?)

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

  // Router logits of tokens [first, first + tokens) of a step's global
  // batch: a per-expert preference that drifts with the step, plus per-token
  // noise (the same values as examples/loss_free_balance.mlir).
  func.func private @logits(%first: index, %tokens: index, %step: index)
      -> tensor<?x64xf32> {
    %x = tensor.generate %tokens {
    ^bb0(%tl: index, %e: index):
      %t = arith.addi %tl, %first : index
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
    %init = mpi.init : !mpi.retval
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %steps = arith.constant 300 : index
    %batch = arith.constant 16384 : index
    // This rank's shard of every batch: [first, first + tokens).
    %rank = shard.process_linear_index on @dp : index
    %ranks = shard.grid_shape @dp : index
    %per = arith.divui %batch, %ranks : index
    %first = arith.muli %rank, %per : index
    %last = arith.subi %ranks, %c1 : index
    %is_last = arith.cmpi eq, %rank, %last : index
    %rest = arith.subi %batch, %first : index
    %tokens = arith.select %is_last, %rest, %per : index
    %is_first = arith.cmpi eq, %rank, %c0 : index
    %bias0 = arith.constant dense<0.0> : tensor<64xf32>
    %final = scf.for %step = %c0 to %steps step %c1
        iter_args(%bias = %bias0) -> (tensor<64xf32>) {
      %x = func.call @logits(%first, %tokens, %step)
          : (index, index, index) -> tensor<?x64xf32>
      %w, %i, %c = moe.route sigmoid %x bias(%bias) {k = 6, normalize}
          : tensor<?x64xf32>, tensor<64xf32>
          -> tensor<?x6xf32>, tensor<?x6xi32>, tensor<64xi32>
      // The step's only communication: 64 counts summed over all ranks.
      %cg = shard.all_reduce %c on @dp grid_axes = [0]
          : tensor<64xi32> -> tensor<64xi32>
      %vio = moe.imbalance %cg : tensor<64xi32> -> f32
      %vio_local = moe.imbalance %c : tensor<64xi32> -> f32
      %next = moe.update_bias sign %bias, %cg {rate = 1.0e-03 : f32}
          : tensor<64xf32>, tensor<64xi32>
      scf.if %is_first {
        %s = arith.index_cast %step : index to i64
        func.call @printI64(%s) : (i64) -> ()
        func.call @printComma() : () -> ()
        func.call @printF32(%vio) : (f32) -> ()
        func.call @printComma() : () -> ()
        func.call @printF32(%vio_local) : (f32) -> ()
        func.call @printNewline() : () -> ()
      }
      scf.yield %next : tensor<64xf32>
    }
    %fin = mpi.finalize : !mpi.retval
    return
  }
}

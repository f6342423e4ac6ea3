//===- Passes.td - moe conversion passes -------------------*- tablegen -*-===//
#ifndef MOE_CONVERSION_PASSES_TD
#define MOE_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertMoEToLoops : Pass<"convert-moe-to-loops"> {
  let summary = "Lower moe.buffer ops to scf, arith, math and memref loops";
  let description = [{
    Lowers every memref-level `moe.buffer.*` op (as produced by one-shot
    bufferization of the tensor ops) to sequential loops over tokens.
    Selection reads each token's logits once, computing its scores and keys
    in vector chunks (with an inline polynomial exp) into two [E] stack
    buffers; the keys become integer rank images (a larger key a larger
    image, -0 as +0, NaN just below -inf). For K <= 16, the K-th best of the
    per-lane maxima is a threshold that every winner reaches: the few
    experts at or above it are compress-stored and ranked in registers,
    ties to the lower index. Otherwise (or when ties leave more than 16
    candidates), K rounds of a vector arg-max take the best remaining
    expert. No sort and no [T, E] temporary; two tokens per iteration. Group-limited selection scores each
    group with the same arg-max over its slice and removes the experts of
    the excluded groups. Runtime data never makes the code read or write out
    of bounds: indices outside [0, E) (or token ids outside [0, T), slots
    outside [0, P)) are skipped. Moe ops on tensors are refused: bufferize
    first.

    With `parallel`, the token loops of `topk` and `route` are `scf.parallel`
    loops over fixed chunks of tokens (at most 64 chunks of at least 4
    tokens: the chunking depends on T only), each chunk with its own
    selection buffers; a route counts each chunk's winners into its own row
    of a [chunks, E] buffer, summed in chunk order after the loop, so that
    the results do not depend on the number of threads. The items of load,
    normalize, combine and permute become `scf.parallel` loops too.
    `--convert-scf-to-openmp` then runs them on OpenMP threads.

    `selection` says how the threshold selection gathers its candidates:
    `compress` with `vector.compressstore` (one `vpcompressd` per chunk on
    AVX-512, but a branch per lane on other CPUs), `scan` with the chunk's
    mask as bits and one scalar store per candidate (count trailing zeros,
    clear the lowest bit: any CPU), or `auto` (the default): `compress` when
    the code is built for a CPU with AVX-512F, else `scan`. The CPU is the
    one the enclosing function's `target_features` (an explicit `+avx512f`
    or `-avx512f`) or `target_cpu` names, else the nearest enclosing
    `llvm.target` attribute (`#llvm.target<triple = ..., chip = ...>`, a
    non-x86 triple meaning no AVX-512), else the host running the pass;
    `target-cpu` names the CPU instead (what `llc -mcpu` will be given).
    Both give the same results.
  }];
  let options = [
    Option<"parallel", "parallel", "bool", /*default=*/"false",
           "Emit the token loops as scf.parallel loops (chunks of tokens "
           "with per-chunk counts merged in a fixed order)">,
    Option<"selection", "selection", "::mlir::moe::CPUSelection",
           /*default=*/"::mlir::moe::CPUSelection::Auto",
           "How the selection gathers its candidates: auto, compress or scan",
           [{::llvm::cl::values(
             clEnumValN(::mlir::moe::CPUSelection::Auto, "auto",
                        "compress when the target has AVX-512F, else scan"),
             clEnumValN(::mlir::moe::CPUSelection::Compress, "compress",
                        "vector compress-stores"),
             clEnumValN(::mlir::moe::CPUSelection::Scan, "scan",
                        "a scan of the mask bits"))}]>,
    Option<"targetCPU", "target-cpu", "std::string", /*default=*/"\"\"",
           "The CPU the code is built for (an LLVM CPU name such as "
           "x86-64-v3 or znver4, or native) for selection=auto; empty: the "
           "IR's target attributes, else the host">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect"
  ];
}

def ConvertMoEToGPU : Pass<"convert-moe-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Lower moe.buffer ops to gpu dialect kernels";
  let description = [{
    Lowers every memref-level `moe.buffer.*` op to `gpu.launch` kernels
    (outlined later by `gpu-kernel-outlining`):
    - `topk`, `route`, `score`: a warp per token, over a grid of 8 blocks
      per multiprocessor (the host asks `moeGpuMultiProcessorCount()`, which
      moe_cuda_runtime and the GPU emulator provide) whose blocks walk the
      tokens grid-stride. Each lane holds the keys of E / 32 experts in
      registers: lane, lane + 32, ..., or, where the rows allow, runs of up
      to 16 bytes read with one vector load (a second version of the token
      loop reads rows off those boundaries element by element); the bias is
      copied to workgroup memory once per block. The K winners come from K
      rounds of a warp-wide arg-max with the contract's order (ties to the
      lower index, NaN last). With `redux` (the default), a round is two
      `gpu.subgroup_reduce` of integer rank images (the best image, then
      the lowest expert that has it; redux.sync on sm_80 and later) and one
      shuffle that fetches the winner's score; without it, a butterfly of
      `gpu.shuffle xor` over (key, index, score, valid). Group scores use
      the same arg-max restricted to a group; the kept groups form a bit
      mask. `route` counts in a workgroup-memory histogram flushed with
      global atomics.
    - `load`: a workgroup-memory histogram per block, then global atomics.
    - `update_bias`, `imbalance`: block tree reductions in workgroup memory.
    - `dispatch`: per-expert counts in a workgroup-memory histogram, a scan
      on one thread, and a scatter in which each expert's thread walks the
      pairs in (t, j) order: deterministic.
    - `permute`, `combine`: a block per row; combine accumulates in f32.

    Each kernel is named after the op it comes from and its step
    (`moe_route_kernel`, `moe_dispatch_scan_kernel`, ...): the `gpu.launch`
    carries the name and `gpu-kernel-outlining` gives it to the `gpu.func`.

    Static loops inside the kernels (over groups, group_top rounds, the K
    pairs of a token) with at most 16 iterations and 2048 operations once
    unrolled are fully unrolled, so that their indices are constants and the
    per-thread arrays they index can live in registers.

    With `host-copies` (the default), each op's buffers are copied to
    device memory (`gpu.alloc`, `gpu.memcpy`) around its launches, so host
    programs run unchanged. Without it, the buffers must already be device
    memory (for example from `gpu.alloc`).

    Limits, diagnosed at compile time by the pattern of the op, naming the
    op the user wrote: E <= 1024 experts and K <= 32 for the warp selection,
    num_groups <= 64, a count histogram (load, route, dispatch) within
    48 KiB of workgroup memory, identity-layout buffers with host copies.
    Moe ops on tensors are refused: bufferize first.
  }];
  let options = [
    Option<"hostCopies", "host-copies", "bool", /*default=*/"true",
           "Copy each op's buffers to device memory and back around its "
           "launches">,
    Option<"warpsPerBlock", "warps-per-block", "int64_t", /*default=*/"4",
           "Tokens (warps) per block of the warp-per-token kernels">,
    Option<"redux", "redux", "bool", /*default=*/"true",
           "Warp arg-max with gpu.subgroup_reduce on integer rank images "
           "(redux.sync, sm_80 and later: lower with "
           "convert-gpu-to-nvvm{has-redux}); false: xor shuffles">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::func::FuncDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect"
  ];
}

def ConvertNVVMKernelsToEmulator
    : Pass<"convert-nvvm-kernels-to-emulator", "::mlir::ModuleOp"> {
  let summary = "Make NVVM kernels host functions that the GPU emulator runs";
  let description = [{
    Takes a module whose host code is in the LLVM dialect and whose kernels
    are `gpu.module`s lowered to the LLVM and NVVM dialects (what
    `--moe-lower-to-nvvm` has right before `gpu-module-to-binary`) and makes
    it a host program for `moe_gpu_emulator` (docs/emulator.md):

    - the functions and globals of each gpu.module move into the host module
      as `moe_emu.<module>.<symbol>` (libdevice declarations such as
      `__nv_expf` stay external: the runtime library defines them), with
      every address space made generic;
    - NVVM special registers, `nvvm.shfl.sync`, `nvvm.redux.sync` (32-bit
      integers) and `nvvm.barrier0` become calls of `moeEmuSpecialRegister`,
      `moeEmuShuffle` (and `moeEmuShufflePredicate`), `moeEmuRedux` and
      `moeEmuBarrier`; any other NVVM op is an error;
    - each kernel gets a thunk that loads its parameters from an array of
      pointers, and each `gpu.launch_func` becomes a call of `moeEmuLaunch`
      with that thunk, the packed parameters, the grid and block sizes and
      the kernel's workgroup buffers.

    With `race-check`, every load, store and atomic on workgroup memory is
    preceded by a call of `moeEmuSharedAccess`, with which the emulator
    reports two threads that access the same bytes between two barriers
    (at least one writing, not both atomically).

    Dynamic shared memory and thread block clusters are rejected with a
    diagnostic.

    Example:

    ```mlir
    gpu.launch_func @k::@f blocks in (%g, %c1, %c1) threads in (%c32, %c1, %c1)
        : i64 args(%p : !llvm.ptr)
    ```

    becomes

    ```mlir
    llvm.call @moeEmuLaunch(%name, %thunk, %params, %g, %c1, %c1, %c32, %c1,
                            %c1, %zero, %buffers, %bytes, %count) : ...
    ```
  }];
  let options = [
    Option<"raceCheck", "race-check", "bool", /*default=*/"false",
           "Report workgroup-memory data races (instruments every access)">
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def KernelPointerArgs : Pass<"moe-kernel-pointer-args", "::mlir::ModuleOp"> {
  let summary = "Pass kernels their buffers' pointers and dynamic sizes only";
  let description = [{
    A memref kernel argument is passed as its whole descriptor (allocated
    and aligned pointer, offset, sizes, strides), most of whose fields the
    type fixes and the kernel never reads. Upstream's bare-pointer
    convention (`convert-gpu-to-nvvm{use-bare-ptr-memref-call-conv}`,
    `gpu-to-llvm{use-bare-pointers-for-kernels}`) passes one pointer, but
    only for memrefs of static shape. This pass, on a module with outlined
    kernels, makes every memref argument of every launched `gpu.func`
    static: one with a dynamic size, offset or stride becomes a
    `memref<1xT>` (its aligned pointer) plus one `index` argument per
    dynamic value (appended: offset, sizes, strides, argument by argument),
    and the kernel rebuilds the original memref with
    `memref.reinterpret_cast`; each `gpu.launch_func` passes the
    reinterpret-cast memref and the values of `memref.extract_strided_metadata`.
    Both moe GPU pipelines run it and lower with bare pointers, so a
    DeepSeek-V3 route kernel takes 6 parameters: five pointers and T.
    A kernel argument with a non-strided layout is an error.
  }];
  let dependentDialects = [
    "::mlir::memref::MemRefDialect"
  ];
}

def LowerSubgroupReduce : Pass<"moe-lower-subgroup-reduce"> {
  let summary = "Expand the gpu.subgroup_reduce ops that NVVM cannot lower "
                "into shuffles";
  let description = [{
    `convert-gpu-to-nvvm` lowers `gpu.subgroup_reduce` only to redux.sync
    (with `has-redux`, sm_80 and later), and only uniform 32-bit integer
    add, and, or, xor, minsi and maxsi; any other reduction fails to
    legalize. This pass expands every other reduction (every reduction
    without `redux`) into a butterfly of `gpu.shuffle xor` with upstream's
    patterns (vectors are broken down first), leaving the redux-eligible
    ones. Both moe NVVM pipelines run it before the NVVM conversion, so
    hand-written kernels in the same module may use any subgroup_reduce.

    Example (`redux=1`): `gpu.subgroup_reduce add %x uniform : (f32) -> f32`
    becomes five `gpu.shuffle xor` and `arith.addf`;
    `gpu.subgroup_reduce maxsi %i uniform : (i32) -> i32` stays.
  }];
  let options = [
    Option<"redux", "redux", "bool", /*default=*/"true",
           "Keep the reductions that redux.sync implements">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::vector::VectorDialect"
  ];
}

def ConvertShardWorldToMPI : Pass<"moe-shard-world-to-mpi", "ModuleOp"> {
  let summary = "Lower the collectives of 1-D dynamic shard grids to MPI on "
                "MPI_COMM_WORLD";
  let description = [{
    A 1-D grid of dynamic size, `shard.grid @dp(shape = ?)`, spans all ranks
    of the job: the program does not fix the number of ranks, `mpiexec -n N`
    does. Upstream's `convert-shard-to-mpi` refuses such a grid ("Dynamic
    grid shape not supported"); this pass, which runs before it, rewrites
    the ops on such a grid into mpi ops on MPI_COMM_WORLD, without a
    communicator split:

    - `shard.all_reduce` (grid_axes = [0]; sum, max, min, product) on a
      tensor or memref: a copy of the input into a new buffer, reduced in
      place by `mpi.allreduce`;
    - `shard.process_linear_index`, `shard.process_multi_index`: the rank
      (`mpi.comm_rank`);
    - `shard.grid_shape`: the number of ranks (`mpi.comm_size`).

    Ops on static grids are left to `convert-shard-to-mpi`; other ops on a
    dynamic grid, and all_reduce kinds that MPI lacks (average), are
    diagnosed at the op.

    Example:
    ```mlir
    shard.grid @dp(shape = ?)
    %g = shard.all_reduce %c on @dp grid_axes = [0]
        : tensor<8xi32> -> tensor<8xi32>
    ```
    becomes
    ```mlir
    %m = bufferization.to_buffer %c : tensor<8xi32> to memref<8xi32>
    %a = memref.alloc() : memref<8xi32>
    memref.copy %m, %a : memref<8xi32> to memref<8xi32>
    %w = mpi.comm_world : !mpi.comm
    mpi.allreduce(%a, %a, MPI_SUM, %w) : memref<8xi32>, memref<8xi32>
    %g = bufferization.to_tensor %a restrict writable : ...
    ```
  }];
}

def ConvertMPIToLLVMWithABI : Pass<"moe-convert-mpi-to-llvm", "ModuleOp"> {
  let summary = "Lower mpi ops to calls of an MPI library and drop the "
                "distributed annotations";
  let description = [{
    The MPI part of `--moe-lower-to-cpu` and `--moe-lower-to-nvvm`, run
    with the other host conversions to LLVM:

    1. The module's DLTI entry `"MPI:Implementation"` chooses the library
       ABI, `"MPICH"` (also Intel MPI, MVAPICH) or `"OpenMPI"`; a module
       without one gets `"MPICH"`.
    2. Upstream's MPI-to-LLVM patterns, plus `mpi.comm_size` (a call of
       `MPI_Comm_size`), which upstream does not lower.
    3. OpenMPI: upstream names the predefined reduction operations
       `ompi_mpi_<op>` (`ompi_mpi_sum`), but the library exports
       `ompi_mpi_op_<op>` (`ompi_mpi_op_sum`); the globals are renamed.
    4. What the runner does not register goes: `shard.grid` symbols (every
       collective on them must be lowered by now, or this pass fails at the
       op that remains) and the `"MPI:..."` DLTI entries.

    Example (MPICH): `%s, %n = mpi.comm_size(%w) : !mpi.retval, i32`
    becomes an `llvm.alloca` of an i32, `llvm.call @MPI_Comm_size(%w32,
    %p) : (i32, !llvm.ptr) -> i32` and an `llvm.load` of the size.
  }];
}

#endif // MOE_CONVERSION_PASSES_TD

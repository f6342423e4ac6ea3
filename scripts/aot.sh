# Ahead-of-time compilation of moe programs into executables and shared
# libraries: the functions behind scripts/moe-compile (the command for users),
# sourced by it, scripts/gpu-bundle and scripts/asan-check after setup.sh.
#
# moe_aot_compile IN.mlir OUT [PIPELINE [asan|"" [executable|shared]]]
#   Lowers IN with moe-opt (PIPELINE, default --moe-lower-to-cpu), translates
#   to LLVM IR, compiles with llc and links OUT against build/lib's
#   moe_runner_utils (printing) and moe_cuda_runtime (mgpu*; moe_gpu_emulator
#   for the --moe-lower-to-gpu-emulator pipeline), with an rpath of
#   $ORIGIN/../lib so that a bundle directory is relocatable. MLIR's `void
#   main()` is renamed and called from a C main that returns 0, so the exit
#   status means something. libcuda.so.1 exists only on a GPU machine, hence
#   --allow-shlib-undefined. With `asan`, every function is instrumented by
#   LLVM's AddressSanitizer pass and linked with the ASan runtime. `shared`
#   links a shared library of IN's functions instead (no main wrapper).

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  echo "scripts/aot.sh is sourced by other scripts; to compile a program run" \
    "scripts/moe-compile IN.mlir -o OUT (see scripts/moe-compile --help)" >&2
  exit 2
fi

MOE_TRIPLE=x86_64-pc-linux-gnu

moe_aot_entry_object() {
  local obj=$MOE_BUILD/aot/entry.o
  if [ ! -f "$obj" ]; then
    mkdir -p "$MOE_BUILD/aot"
    printf 'void moe_program_main(void);\nint main(void) { moe_program_main(); return 0; }\n' |
      gcc -x c -c -O2 -o "$obj" -
  fi
  echo "$obj"
}

moe_aot_compile() {
  local in=$1 out=$2 pipeline=${3:---moe-lower-to-cpu} mode=${4:-}
  local kind=${5:-executable}
  local tmp
  tmp=$(mktemp -d)
  "$MOE_BUILD/bin/moe-opt" "$in" "$pipeline" -o "$tmp/lowered.mlir"
  mlir-translate --mlir-to-llvmir "$tmp/lowered.mlir" -o "$tmp/prog.ll"
  local llc_input=$tmp/prog.ll link_flags=()
  if [ "$mode" = asan ]; then
    # The ASan pass instruments only functions marked sanitize_address.
    sed -E 's/^(define .*\)) (#[0-9]+ )?\{$/\1 \2sanitize_address {/' \
      "$tmp/prog.ll" > "$tmp/marked.ll"
    opt -mtriple=$MOE_TRIPLE -passes=asan "$tmp/marked.ll" -o "$tmp/asan.bc"
    llc_input=$tmp/asan.bc
    link_flags+=(-fsanitize=address)
  fi
  # MOE_AOT_CPU: the -mcpu of llc (generic x86-64 when unset).
  llc -O2 -mtriple=$MOE_TRIPLE -mcpu="${MOE_AOT_CPU:-x86-64}" -filetype=obj \
    -relocation-model=pic "$llc_input" -o "$tmp/prog.o"
  local objects=("$tmp/prog.o")
  if [ "$kind" = shared ]; then
    link_flags+=(-shared)
  else
    objcopy --redefine-sym main=moe_program_main "$tmp/prog.o"
    objects+=("$(moe_aot_entry_object)")
  fi
  local libs=(-lmoe_runner_utils)
  if [[ $pipeline == *gpu-emulator* ]]; then
    libs+=(-lmoe_gpu_emulator)
  elif [ -f "$MOE_BUILD/lib/libmoe_cuda_runtime.so" ]; then
    libs+=(-lmoe_cuda_runtime)
  fi
  mkdir -p "$(dirname "$out")"
  g++ "${link_flags[@]}" "${objects[@]}" -o "$out" \
    -L"$MOE_BUILD/lib" -Wl,--as-needed "${libs[@]}" -lm \
    -Wl,--allow-shlib-undefined \
    -Wl,-rpath,'$ORIGIN/../lib' -Wl,-rpath,"$MOE_BUILD/lib"
  rm -rf "$tmp"
}

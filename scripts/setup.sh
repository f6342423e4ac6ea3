# Shared by scripts/demo and scripts/test (sourced, not run): installs what is
# missing on a Debian 12 machine and builds the project into build/.
# Idempotent: a machine that has everything installs nothing and rebuilds
# only what changed.

set -euo pipefail

MOE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MOE_BUILD=${MOE_BUILD:-$MOE_ROOT/build}
LLVM_PREFIX=/usr/lib/llvm-22
export PATH="$LLVM_PREFIX/bin:$PATH"

# Packages: MLIR/LLVM 22 (libraries, CMake package, mlir-opt, mlir-runner,
# FileCheck, lit, not, the NVPTX backend), the build tools, and NumPy for the
# independent reference of the execution tests; MPICH for the distributed
# ones (test/Distributed).
MOE_PACKAGES=(llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
              cmake ninja-build g++ binutils libgtest-dev python3 python3-numpy
              mpich libmpich-dev libomp-22-dev)

moe_log() { printf '== %s\n' "$*" >&2; }

moe_install() {
  local missing=() pkg
  for pkg in "${MOE_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" ||
      missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    moe_log "packages: all installed"
    return
  fi
  moe_log "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

moe_build() {
  moe_log "configuring and building in $MOE_BUILD"
  if [ ! -f "$MOE_BUILD/build.ninja" ]; then
    # Debian's python3 (it has NumPy) runs lit and the reference, whatever
    # python3 comes first on PATH.
    cmake -G Ninja -S "$MOE_ROOT" -B "$MOE_BUILD" \
      -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ \
      -DPython3_EXECUTABLE=/usr/bin/python3 >/dev/null
  fi
  # all, and the ODS-generated reference that test/Docs compares.
  ninja -C "$MOE_BUILD" all mlir-doc >/dev/null
}

# The runner libraries that lowered CPU programs call.
MOE_RUNNER_LIBS="$LLVM_PREFIX/lib/libmlir_runner_utils.so,$LLVM_PREFIX/lib/libmlir_c_runner_utils.so"

# moe_run_cpu FILE [mlir-runner args...]: lowers FILE for the CPU and runs main.
moe_run_cpu() {
  local file=$1
  shift
  "$MOE_BUILD/bin/moe-opt" "$file" --moe-lower-to-cpu |
    mlir-runner -e main --entry-point-result=void -O3 \
      --shared-libs="$MOE_RUNNER_LIBS" "$@"
}

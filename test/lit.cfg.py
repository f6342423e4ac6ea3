# -*- Python -*-
"""lit configuration of the moe-mlir regression and execution tests."""

import ctypes
import glob
import os
import shlex
import shutil
import subprocess

import lit.formats
from lit.llvm import llvm_config

config.name = "MOE"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.moe_obj_root, "test")
config.excludes = ["CMakeLists.txt", "README.md", "lit.cfg.py", "Inputs"]

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.add_tool_substitutions(
    ["moe-opt", "moe-capi-test", "mlir-opt", "mlir-runner", "mlir-translate",
     "llc"],
    [config.moe_tools_dir, config.llvm_tools_dir],
)

config.substitutions.append(("%mlir_lib_dir", config.llvm_lib_dir))
config.substitutions.append(("%moe_lib_dir", config.moe_lib_dir))
config.substitutions.append(("%moe_src_root", config.moe_src_root))
config.substitutions.append(("%moe_obj_root", config.moe_obj_root))
config.substitutions.append(("%python", config.python_executable))
# The mlir-opt plugin (test/Plugin).
config.substitutions.append(("%moe_plugin", config.moe_plugin))
# test/Embedding configures and builds a consumer project with the tools of
# this build, in the configuration of the LLVM packages (NDEBUG).
config.substitutions.append(("%moe_cmake_command", config.cmake_command))
config.substitutions.append(
    ("%moe_cmake_flags",
     " ".join(shlex.quote(arg) for arg in
              ["-G", config.cmake_generator,
               "-DCMAKE_MAKE_PROGRAM=" + config.cmake_make_program,
               "-DCMAKE_C_COMPILER=" + config.c_compiler,
               "-DCMAKE_CXX_COMPILER=" + config.cxx_compiler,
               "-DCMAKE_BUILD_TYPE=Release"])))
# The reference of the training ops (test/Integration/Training); before
# %moe_ref, which is its prefix.
config.substitutions.append(
    ("%moe_ref_train", "%s %s" % (config.python_executable,
                                 os.path.join(config.moe_src_root, "test",
                                              "Integration", "ref",
                                              "moe_ref_train.py"))))
config.substitutions.append(
    ("%moe_ref", "%s %s" % (config.python_executable,
                           os.path.join(config.moe_src_root, "test",
                                        "Integration", "ref", "moe_ref.py"))))
config.substitutions.append(
    ("%runner_libs",
     ",".join(os.path.join(config.llvm_lib_dir, lib) for lib in
              ("libmlir_runner_utils.so", "libmlir_c_runner_utils.so"))))
config.substitutions.append(
    ("%cuda_runner_libs",
     ",".join([os.path.join(config.moe_lib_dir, "libmoe_cuda_runtime.so")] +
              [os.path.join(config.llvm_lib_dir, lib) for lib in
               ("libmlir_runner_utils.so", "libmlir_c_runner_utils.so")])))

# The GPU emulator (lib/Runtime/Emulator) needs no GPU: always there.
config.substitutions.append(
    ("%emulator_runner_libs",
     ",".join([os.path.join(config.moe_lib_dir, "libmoe_gpu_emulator.so")] +
              [os.path.join(config.llvm_lib_dir, lib) for lib in
               ("libmlir_runner_utils.so", "libmlir_c_runner_utils.so")])))

if config.ptxas_executable and os.path.exists(config.ptxas_executable):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", config.ptxas_executable))


def _cuda_device_usable():
    """True when the CUDA driver loads and reports at least one device."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
        if cuda.cuInit(0) != 0:
            return False
        count = ctypes.c_int(0)
        return cuda.cuDeviceGetCount(ctypes.byref(count)) == 0 and count.value > 0
    except OSError:
        return False


# GPU execution tests need the runtime library and a usable device; CI has
# neither, and they report UNSUPPORTED there.
if config.cuda_runtime_built and _cuda_device_usable():
    config.available_features.add("cuda")

# test/Python: the moe_mlir package needs PyTorch (Debian's python3-torch).
for _python in ("/usr/bin/python3", config.python_executable):
    if os.path.exists(_python) and subprocess.run(
            [_python, "-c", "import torch"], capture_output=True).returncode == 0:
        config.available_features.add("torch")
        config.substitutions.append(("%torch_python", _python))
        break

# Execution tests under AddressSanitizer: MOE_ASAN_RUNTIME names the ASan
# runtime to preload into mlir-runner (see scripts/asan-check).
if os.environ.get("MOE_ASAN_RUNTIME"):
    config.environment["MOE_ASAN_RUNTIME"] = os.environ["MOE_ASAN_RUNTIME"]

# MPI execution tests (test/Distributed) need MPICH's launcher and library
# (Debian: mpich, libmpich-dev; scripts/setup.sh installs them).
_libmpich = sorted(glob.glob("/usr/lib/*/libmpich.so") +
                   glob.glob("/usr/lib*/libmpich.so"))
_mpiexec = shutil.which("mpiexec.mpich")
if _mpiexec and _libmpich:
    config.available_features.add("mpi")
    config.substitutions.append(("%mpiexec", _mpiexec))
    config.substitutions.append(("%libmpi", _libmpich[0]))

# Cross-target execution (test/Integration/CrossTarget): AArch64 programs run
# under QEMU's user mode (Debian: qemu-user, gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross).
if shutil.which("qemu-aarch64") and shutil.which("aarch64-linux-gnu-gcc"):
    config.available_features.add("aarch64-user")
    config.substitutions.append(("%llvm_tools_dir", config.llvm_tools_dir))

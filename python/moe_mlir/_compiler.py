"""Compiles MLIR text of the moe dialect to a shared library, once.

The pipeline is the one bench/cpu uses: ``moe-opt --moe-lower-to-cpu``, then
``mlir-translate --mlir-to-llvmir``, ``opt -O3`` and ``llc -O3`` for the host
CPU, and the system C compiler to link a shared object. Libraries are cached
on disk under ``$MOE_MLIR_CACHE`` (default ``~/.cache/moe_mlir``), named by a
hash of the IR text and of the tools (the content of moe-opt, the versions of
the LLVM tools and the host CPU they target, the identity of the LLVM and
MLIR shared libraries they load), and loaded with ctypes once per process.
"""

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(os.path.dirname(_HERE))
LLVM_BIN = os.environ.get("MOE_MLIR_LLVM_BIN", "/usr/lib/llvm-22/bin")

_lock = threading.Lock()
_loaded = {}  # IR hash -> ctypes.CDLL
_toolchain = None  # (moe-opt path, key of the tools)
stats = {"compiled": 0, "disk_hits": 0, "memory_hits": 0}


class CompileError(RuntimeError):
    """A tool of the pipeline failed; the message holds its diagnostics."""


def moe_opt_path():
    """``$MOE_OPT``, else the repository's build/bin/moe-opt."""
    path = os.environ.get("MOE_OPT") or os.path.join(_ROOT, "build", "bin", "moe-opt")
    if not os.access(path, os.X_OK):
        raise CompileError(
            f"moe-opt not found at {path}: build the repository (ninja -C build) "
            "or set MOE_OPT to the moe-opt binary")
    return path


def cache_dir():
    return os.environ.get("MOE_MLIR_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "moe_mlir")


def _file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _toolchain_key():
    """moe-opt and a key naming every tool that shapes the library."""
    global _toolchain
    moe_opt = moe_opt_path()
    st = os.stat(moe_opt)
    if _toolchain and _toolchain[0] == (moe_opt, st.st_size, st.st_mtime_ns):
        return moe_opt, _toolchain[1]
    h = hashlib.sha256()
    h.update(_file_digest(moe_opt).encode())
    for tool in ("mlir-translate", "opt", "llc"):
        path = os.path.join(LLVM_BIN, tool)
        h.update(_file_digest(path).encode())
        # `llc --version` also names the host CPU that -mcpu=native means.
        h.update(subprocess.run([path, "--version"], capture_output=True).stdout)
    libdir = os.path.join(os.path.dirname(LLVM_BIN), "lib")
    for lib in sorted(os.listdir(libdir)) if os.path.isdir(libdir) else ():
        if lib.startswith(("libMLIR.so", "libLLVM.so")):
            lst = os.stat(os.path.join(libdir, lib))
            h.update(f"{lib}:{lst.st_size}:{lst.st_mtime_ns}".encode())
    _toolchain = ((moe_opt, st.st_size, st.st_mtime_ns), h.hexdigest())
    return moe_opt, _toolchain[1]


def _run(cmd, what):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CompileError(f"{what} failed ({' '.join(cmd)}):\n{proc.stderr}")


def _compile(ir, moe_opt, out):
    with tempfile.TemporaryDirectory(prefix="moe_mlir_") as tmp:
        src = os.path.join(tmp, "in.mlir")
        with open(src, "w") as f:
            f.write(ir)
        lowered = os.path.join(tmp, "lowered.mlir")
        ll = os.path.join(tmp, "module.ll")
        bc = os.path.join(tmp, "module.bc")
        obj = os.path.join(tmp, "module.o")
        lib = os.path.join(tmp, "module.so")
        _run([moe_opt, src, "--moe-lower-to-cpu", "-o", lowered], "moe-opt")
        _run([os.path.join(LLVM_BIN, "mlir-translate"), "--mlir-to-llvmir", lowered,
              "-o", ll], "mlir-translate")
        _run([os.path.join(LLVM_BIN, "opt"), "-O3", "-mcpu=native", ll, "-o", bc], "opt")
        _run([os.path.join(LLVM_BIN, "llc"), "-O3", "-mcpu=native", "-filetype=obj",
              "-relocation-model=pic", bc, "-o", obj], "llc")
        cc = os.environ.get("CC") or shutil.which("cc") or "gcc"
        _run([cc, "-shared", obj, "-o", lib, "-lm"], "linking")
        # Publish atomically: concurrent processes may compile the same IR.
        os.makedirs(os.path.dirname(out), exist_ok=True)
        tmp_out = f"{out}.{os.getpid()}.tmp"
        shutil.copyfile(lib, tmp_out)
        os.replace(tmp_out, out)


def load(ir):
    """The shared library of ``ir`` (MLIR text whose functions carry
    ``llvm.emit_c_interface``): from this process, from the disk cache, or
    compiled now."""
    with _lock:
        moe_opt, tools = _toolchain_key()
        key = hashlib.sha256((tools + "\0" + ir).encode()).hexdigest()
        lib = _loaded.get(key)
        if lib is not None:
            stats["memory_hits"] += 1
            return lib
        path = os.path.join(cache_dir(), key[:2], key + ".so")
        if os.path.exists(path):
            stats["disk_hits"] += 1
        else:
            _compile(ir, moe_opt, path)
            stats["compiled"] += 1
        lib = ctypes.CDLL(path)
        _loaded[key] = lib
        return lib

// RUN: moe-opt %s --convert-nvvm-kernels-to-emulator --split-input-file --verify-diagnostics

module attributes {gpu.container_module} {
  gpu.module @kernels {
    // expected-error @below {{'gpu.func' op cannot be emulated: the GPU emulator expects gpu.module kernels lowered to the LLVM and NVVM dialects (run convert-gpu-to-nvvm first)}}
    gpu.func @k() kernel {
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    llvm.func @k(%out: !llvm.ptr) attributes {gpu.kernel, nvvm.kernel} {
      // expected-error @below {{'nvvm.read.ptx.sreg.clock' op cannot be run by the GPU emulator (it emulates special registers, shfl.sync, redux.sync and barrier0)}}
      %t = nvvm.read.ptx.sreg.clock : i32
      llvm.store %t, %out : i32, !llvm.ptr
      llvm.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    llvm.func @k() attributes {gpu.kernel, nvvm.kernel} {
      %id = llvm.mlir.constant(1 : i32) : i32
      // expected-error @below {{'nvvm.barrier' op cannot be run by the GPU emulator (it emulates special registers, shfl.sync, redux.sync and barrier0)}}
      nvvm.barrier id = %id
      llvm.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    // expected-error @below {{'llvm.mlir.global' op is dynamic shared memory, which the GPU emulator does not provide}}
    llvm.mlir.global external @dynamic() {addr_space = 3 : i32} : !llvm.array<0 x i8>
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.binary @kernels [#gpu.object<#nvvm.target, "cubin">]
  llvm.func @host() {
    %one = llvm.mlir.constant(1 : i64) : i64
    // expected-error @below {{'gpu.launch_func' op launches @kernels::@k, which is not a kernel of a gpu.module (the GPU emulator needs its LLVM/NVVM code, not a gpu.binary)}}
    gpu.launch_func @kernels::@k blocks in (%one, %one, %one) threads in (%one, %one, %one) : i64
    llvm.return
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    llvm.func @k(%n: i64) attributes {gpu.kernel, nvvm.kernel} {
      llvm.return
    }
  }
  func.func @host(%n: index) {
    %one = arith.constant 1 : index
    // expected-error @below {{'gpu.launch_func' op has operands of non-LLVM type 'index' (run gpu-to-llvm first)}}
    gpu.launch_func @kernels::@k blocks in (%one, %one, %one) threads in (%one, %one, %one) args(%n : index)
    return
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    llvm.func @k() attributes {gpu.kernel, nvvm.kernel} {
      llvm.return
    }
  }
  llvm.func @host() {
    %one = llvm.mlir.constant(1 : i64) : i64
    // expected-error @below {{'gpu.launch_func' op uses thread block clusters, which the GPU emulator does not provide}}
    gpu.launch_func @kernels::@k clusters in (%one, %one, %one) blocks in (%one, %one, %one) threads in (%one, %one, %one) : i64
    llvm.return
  }
}

// -----

module attributes {gpu.container_module} {
  // expected-error @below {{'moeEmuBarrier' is declared with type '!llvm.func<i32 ()>', the GPU emulator's is '!llvm.func<void ()>'}}
  llvm.func @moeEmuBarrier() -> i32
  gpu.module @kernels {
    llvm.func @k() attributes {gpu.kernel, nvvm.kernel} {
      nvvm.barrier0
      llvm.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    llvm.func @k(%v: f32, %out: !llvm.ptr) attributes {gpu.kernel, nvvm.kernel} {
      %all = llvm.mlir.constant(-1 : i32) : i32
      // expected-error @below {{'nvvm.redux.sync' op cannot be run by the GPU emulator (it emulates redux.sync on 32-bit integers)}}
      %m = nvvm.redux.sync fmax %v, %all : f32 -> f32
      llvm.store %m, %out : f32, !llvm.ptr
      llvm.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  // expected-error @below {{'moeEmuShuffle' is a symbol of the module and an entry point of the GPU emulator}}
  llvm.mlir.global internal @moeEmuShuffle() : i32
  gpu.module @kernels {
    llvm.func @k() attributes {gpu.kernel, nvvm.kernel} {
      llvm.return
    }
  }
}

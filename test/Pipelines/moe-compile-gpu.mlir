// REQUIRES: ptxas
// scripts/moe-compile --gpu: built (cubins by ptxas, the CUDA runtime
// library linked), not run: no GPU here. --ptx-dir leaves each kernel
// module's PTX as text.
//
// RUN: rm -rf %t && mkdir -p %t
// RUN: env MOE_BUILD=%moe_obj_root %moe_src_root/scripts/moe-compile %s \
// RUN:   --gpu=chip=sm_90a -o %t/prog-gpu --ptx-dir %t/ptx
// RUN: llvm-nm -D --undefined-only %t/prog-gpu | FileCheck %s --check-prefix=NM
// NM: mgpuLaunchKernel
// NM: mgpuModuleLoad
// RUN: llvm-readelf -d %t/prog-gpu | FileCheck %s --check-prefix=ELF
// ELF: (NEEDED) Shared library: [libmoe_cuda_runtime.so]
// RUN: cat %t/ptx/*.ptx | FileCheck %s --check-prefix=PTX
// PTX: .version 8.0
// PTX-NEXT: .target sm_90a
// PTX: .entry
// RUN: not env MOE_BUILD=%moe_obj_root %moe_src_root/scripts/moe-compile %s \
// RUN:   --ptx-dir %t/ptx -o %t/x 2>&1 | FileCheck %s --check-prefix=PTXDIR
// PTXDIR: moe-compile: --ptx-dir needs --gpu

func.func @main() {
  %i = arith.constant dense<[[0, 3], [3, 1], [3, 0]]> : tensor<3x2xi32>
  %c = moe.load %i {num_experts = 4} : tensor<3x2xi32> -> tensor<4xi32>
  %v = moe.imbalance %c : tensor<4xi32> -> f32
  vector.print %v : f32
  return
}

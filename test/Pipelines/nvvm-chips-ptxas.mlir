// REQUIRES: ptxas
// ptxas of CUDA 13 assembles the kernels of every chip it knows that LLVM 22
// targets (`ptxas --help`, --gpu-name), with the PTX version that follows the
// chip. sm_101 was renamed sm_110 in CUDA 13: LLVM still emits it, ptxas
// rejects it, and the error is ptxas's own message, without an IR dump.
//
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_75" | FileCheck %s --check-prefix=BIN -DCHIP=sm_75
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_80" | FileCheck %s --check-prefix=BIN -DCHIP=sm_80
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_86" | FileCheck %s --check-prefix=BIN -DCHIP=sm_86
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_87" | FileCheck %s --check-prefix=BIN -DCHIP=sm_87
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_88" | FileCheck %s --check-prefix=BIN -DCHIP=sm_88
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_89" | FileCheck %s --check-prefix=BIN -DCHIP=sm_89
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_90" | FileCheck %s --check-prefix=BIN -DCHIP=sm_90
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_90a" | FileCheck %s --check-prefix=BIN -DCHIP=sm_90a
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_100" | FileCheck %s --check-prefix=BIN -DCHIP=sm_100
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_100a" | FileCheck %s --check-prefix=BIN -DCHIP=sm_100a
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_100f" | FileCheck %s --check-prefix=BIN -DCHIP=sm_100f
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_103" | FileCheck %s --check-prefix=BIN -DCHIP=sm_103
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_103a" | FileCheck %s --check-prefix=BIN -DCHIP=sm_103a
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_103f" | FileCheck %s --check-prefix=BIN -DCHIP=sm_103f
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_110" | FileCheck %s --check-prefix=BIN -DCHIP=sm_110
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_110a" | FileCheck %s --check-prefix=BIN -DCHIP=sm_110a
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_110f" | FileCheck %s --check-prefix=BIN -DCHIP=sm_110f
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_120" | FileCheck %s --check-prefix=BIN -DCHIP=sm_120
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_120a" | FileCheck %s --check-prefix=BIN -DCHIP=sm_120a
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_120f" | FileCheck %s --check-prefix=BIN -DCHIP=sm_120f
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_121" | FileCheck %s --check-prefix=BIN -DCHIP=sm_121
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_121a" | FileCheck %s --check-prefix=BIN -DCHIP=sm_121a
// RUN: moe-opt %s --moe-lower-to-nvvm="chip=sm_121f" | FileCheck %s --check-prefix=BIN -DCHIP=sm_121f
// BIN: gpu.binary @{{.*}} [#gpu.object<#nvvm.target<O = 3, chip = "[[CHIP]]"{{.*}}bin = "

// RUN: not moe-opt %s --moe-lower-to-nvvm="chip=sm_101" 2>&1 | FileCheck %s --check-prefix=SM101
// SM101: error: `ptxas` invocation failed. Log:
// SM101-NEXT: ptxas fatal   : Value 'sm_101' is not defined for option 'gpu-name'
// SM101-NOT: see current operation
// SM101-NOT: gpu.module
// SM101-NOT: llvm.func

func.func @counts(%i: tensor<8x2xi32>) -> tensor<16xi32> {
  %c = moe.load %i {num_experts = 16} : tensor<8x2xi32> -> tensor<16xi32>
  return %c : tensor<16xi32>
}

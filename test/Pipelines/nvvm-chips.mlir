// Without `features`, --moe-lower-to-nvvm compiles for the PTX version that
// the chip needs, for every NVPTX processor of LLVM 22 from sm_75 on
// (`llc -march=nvptx64 -mattr=help`); `ptx-dir` writes each kernel module's
// PTX as plain text. The expected versions are what `llc -mcpu=<chip>` emits
// by default.
//
// RUN: rm -rf %t
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_75 ptx-dir=%t/sm_75" -o /dev/null
// RUN: cat %t/sm_75/*.ptx | FileCheck %s -DVERSION=6.3 -DCHIP=sm_75
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_80 ptx-dir=%t/sm_80" -o /dev/null
// RUN: cat %t/sm_80/*.ptx | FileCheck %s -DVERSION=7.0 -DCHIP=sm_80
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_86 ptx-dir=%t/sm_86" -o /dev/null
// RUN: cat %t/sm_86/*.ptx | FileCheck %s -DVERSION=7.1 -DCHIP=sm_86
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_87 ptx-dir=%t/sm_87" -o /dev/null
// RUN: cat %t/sm_87/*.ptx | FileCheck %s -DVERSION=7.4 -DCHIP=sm_87
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_88 ptx-dir=%t/sm_88" -o /dev/null
// RUN: cat %t/sm_88/*.ptx | FileCheck %s -DVERSION=9.0 -DCHIP=sm_88
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_89 ptx-dir=%t/sm_89" -o /dev/null
// RUN: cat %t/sm_89/*.ptx | FileCheck %s -DVERSION=7.8 -DCHIP=sm_89
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_90 ptx-dir=%t/sm_90" -o /dev/null
// RUN: cat %t/sm_90/*.ptx | FileCheck %s -DVERSION=7.8 -DCHIP=sm_90
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_90a ptx-dir=%t/sm_90a" -o /dev/null
// RUN: cat %t/sm_90a/*.ptx | FileCheck %s -DVERSION=8.0 -DCHIP=sm_90a
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_100 ptx-dir=%t/sm_100" -o /dev/null
// RUN: cat %t/sm_100/*.ptx | FileCheck %s -DVERSION=8.6 -DCHIP=sm_100
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_100a ptx-dir=%t/sm_100a" -o /dev/null
// RUN: cat %t/sm_100a/*.ptx | FileCheck %s -DVERSION=8.6 -DCHIP=sm_100a
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_100f ptx-dir=%t/sm_100f" -o /dev/null
// RUN: cat %t/sm_100f/*.ptx | FileCheck %s -DVERSION=8.8 -DCHIP=sm_100f
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_101 ptx-dir=%t/sm_101" -o /dev/null
// RUN: cat %t/sm_101/*.ptx | FileCheck %s -DVERSION=8.6 -DCHIP=sm_101
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_101a ptx-dir=%t/sm_101a" -o /dev/null
// RUN: cat %t/sm_101a/*.ptx | FileCheck %s -DVERSION=8.6 -DCHIP=sm_101a
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_101f ptx-dir=%t/sm_101f" -o /dev/null
// RUN: cat %t/sm_101f/*.ptx | FileCheck %s -DVERSION=8.8 -DCHIP=sm_101f
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_103 ptx-dir=%t/sm_103" -o /dev/null
// RUN: cat %t/sm_103/*.ptx | FileCheck %s -DVERSION=8.8 -DCHIP=sm_103
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_103a ptx-dir=%t/sm_103a" -o /dev/null
// RUN: cat %t/sm_103a/*.ptx | FileCheck %s -DVERSION=8.8 -DCHIP=sm_103a
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_103f ptx-dir=%t/sm_103f" -o /dev/null
// RUN: cat %t/sm_103f/*.ptx | FileCheck %s -DVERSION=8.8 -DCHIP=sm_103f
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_110 ptx-dir=%t/sm_110" -o /dev/null
// RUN: cat %t/sm_110/*.ptx | FileCheck %s -DVERSION=9.0 -DCHIP=sm_110
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_110a ptx-dir=%t/sm_110a" -o /dev/null
// RUN: cat %t/sm_110a/*.ptx | FileCheck %s -DVERSION=9.0 -DCHIP=sm_110a
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_110f ptx-dir=%t/sm_110f" -o /dev/null
// RUN: cat %t/sm_110f/*.ptx | FileCheck %s -DVERSION=9.0 -DCHIP=sm_110f
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_120 ptx-dir=%t/sm_120" -o /dev/null
// RUN: cat %t/sm_120/*.ptx | FileCheck %s -DVERSION=8.7 -DCHIP=sm_120
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_120a ptx-dir=%t/sm_120a" -o /dev/null
// RUN: cat %t/sm_120a/*.ptx | FileCheck %s -DVERSION=8.7 -DCHIP=sm_120a
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_120f ptx-dir=%t/sm_120f" -o /dev/null
// RUN: cat %t/sm_120f/*.ptx | FileCheck %s -DVERSION=8.8 -DCHIP=sm_120f
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_121 ptx-dir=%t/sm_121" -o /dev/null
// RUN: cat %t/sm_121/*.ptx | FileCheck %s -DVERSION=8.8 -DCHIP=sm_121
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_121a ptx-dir=%t/sm_121a" -o /dev/null
// RUN: cat %t/sm_121a/*.ptx | FileCheck %s -DVERSION=8.8 -DCHIP=sm_121a
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_121f ptx-dir=%t/sm_121f" -o /dev/null
// RUN: cat %t/sm_121f/*.ptx | FileCheck %s -DVERSION=8.8 -DCHIP=sm_121f
//
// Explicit features still win; a version above the chip's is kept.
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa chip=sm_80 features=+ptx86 ptx-dir=%t/explicit" -o /dev/null
// RUN: cat %t/explicit/*.ptx | FileCheck %s -DVERSION=8.6 -DCHIP=sm_80
//
// The default chip is sm_90.
// RUN: moe-opt %s --moe-lower-to-nvvm="format=isa ptx-dir=%t/default" | FileCheck %s --check-prefix=ATTR
// RUN: cat %t/default/*.ptx | FileCheck %s -DVERSION=7.8 -DCHIP=sm_90
// ATTR: gpu.binary @{{.*}} [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx78">

// CHECK: .version [[VERSION]]
// CHECK-NEXT: .target [[CHIP]]
// CHECK: .entry

func.func @counts(%i: tensor<8x2xi32>) -> tensor<16xi32> {
  %c = moe.load %i {num_experts = 16} : tensor<8x2xi32> -> tensor<16xi32>
  return %c : tensor<16xi32>
}

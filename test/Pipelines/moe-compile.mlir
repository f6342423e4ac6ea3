// scripts/moe-compile: this file compiled ahead of time into an executable
// (its @main runs) and into a shared library that a C program calls. The
// expected numbers are worked out by hand below.
//
// RUN: rm -rf %t && mkdir -p %t
// RUN: env MOE_BUILD=%moe_obj_root %moe_src_root/scripts/moe-compile %s -o %t/prog
// RUN: %t/prog | FileCheck %s --check-prefix=EXE
// RUN: env MOE_BUILD=%moe_obj_root %moe_src_root/scripts/moe-compile %s --shared -o %t/libimbalance.so
// RUN: %moe_c_compiler %S/Inputs/imbalance.c %t/libimbalance.so -Wl,-rpath,%t -o %t/use-library
// RUN: %t/use-library | FileCheck %s --check-prefix=LIB
//
// The same program built for an AVX2 CPU and for this machine (--mcpu: llc
// and the CPU lowering's target-cpu).
// RUN: env MOE_BUILD=%moe_obj_root %moe_src_root/scripts/moe-compile %s --mcpu x86-64-v3 -o %t/prog-avx2
// RUN: %t/prog-avx2 | FileCheck %s --check-prefix=EXE
// RUN: env MOE_BUILD=%moe_obj_root %moe_src_root/scripts/moe-compile %s --mcpu=native -o %t/prog-native
// RUN: %t/prog-native | FileCheck %s --check-prefix=EXE
// RUN: not %moe_src_root/scripts/moe-compile %s -o %t/x --mcpu 2>&1 | FileCheck %s --check-prefix=MCPU
// MCPU: moe-compile: --mcpu needs a CPU name
// RUN: not %moe_src_root/scripts/moe-compile %s -o %t/x --mcpu bogus-cpu 2>&1 | FileCheck %s --check-prefix=BADCPU
// BADCPU: moe-compile: unknown CPU 'bogus-cpu' for --mcpu: an LLVM x86-64 CPU name
//
// The same program with the GPU kernels run by the emulator.
// RUN: env MOE_BUILD=%moe_obj_root %moe_src_root/scripts/moe-compile %s --gpu-emulator -o %t/prog-emulator
// RUN: %t/prog-emulator | FileCheck %s --check-prefix=EXE
//
// Usage errors.
// RUN: %moe_src_root/scripts/moe-compile --help | FileCheck %s --check-prefix=HELP
// HELP: usage: scripts/moe-compile IN.mlir -o OUT [--shared]
// RUN: not %moe_src_root/scripts/moe-compile %s 2>&1 | FileCheck %s --check-prefix=NO-OUT
// NO-OUT: moe-compile: no output file: give -o OUT
// RUN: not %moe_src_root/scripts/moe-compile %s -o %t/x --bogus 2>&1 | FileCheck %s --check-prefix=BOGUS
// BOGUS: moe-compile: unknown option '--bogus'
// RUN: not bash %moe_src_root/scripts/aot.sh %s %t/x 2>&1 | FileCheck %s --check-prefix=AOT
// AOT: scripts/aot.sh is sourced by other scripts; to compile a program run scripts/moe-compile

// counts (1, 2, 3, 6): mean 3, (6 - 3) / 3 = 1; (5, 1, 1, 1): mean 2,
// (5 - 2) / 2 = 1.5; all zero: 0.
// LIB: imbalance4(1, 2, 3, 6) = 1
// LIB-NEXT: imbalance4(5, 1, 1, 1) = 1.5
// LIB-NEXT: imbalance4(0, 0, 0, 0) = 0
func.func @imbalance4(%c0: i32, %c1: i32, %c2: i32, %c3: i32) -> f32 {
  %c = tensor.from_elements %c0, %c1, %c2, %c3 : tensor<4xi32>
  %v = moe.imbalance %c : tensor<4xi32> -> f32
  return %v : f32
}

// Tokens' experts [[0, 3], [3, 1], [3, 0]] over 4 experts: counts
// (2, 1, 0, 3), mean 1.5, MaxVio (3 - 1.5) / 1.5 = 1.
// EXE: 2
// EXE-NEXT: 1
// EXE-NEXT: 0
// EXE-NEXT: 3
// EXE-NEXT: 1
func.func @main() {
  %i = arith.constant dense<[[0, 3], [3, 1], [3, 0]]> : tensor<3x2xi32>
  %c = moe.load %i {num_experts = 4} : tensor<3x2xi32> -> tensor<4xi32>
  %lo = arith.constant 0 : index
  %hi = arith.constant 4 : index
  %one = arith.constant 1 : index
  scf.for %e = %lo to %hi step %one {
    %n = tensor.extract %c[%e] : tensor<4xi32>
    vector.print %n : i32
  }
  %v = moe.imbalance %c : tensor<4xi32> -> f32
  vector.print %v : f32
  return
}

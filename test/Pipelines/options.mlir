// Bad pipeline options are errors that say what is valid, never crashes.
//
// An unknown option names the valid ones.
// RUN: not moe-opt %s --moe-lower-to-nvvm="bogus=1" 2>&1 | FileCheck %s --check-prefix=BOGUS
// BOGUS: error: --moe-lower-to-nvvm: no such option bogus; the options are: bufferize, chip, features, format, fuse-routing, host-copies, opt-level, ptx-dir, toolkit (moe-opt --help describes them)
// RUN: not moe-opt %s --moe-lower-to-cpu="chip=sm_90" 2>&1 | FileCheck %s --check-prefix=CPU
// CPU: error: --moe-lower-to-cpu: no such option chip; the options are: bufferize, fuse-routing, parallel, selection, target-cpu (moe-opt --help describes them)
// A bad value of a known option: what the option takes, then the error.
// RUN: not moe-opt %s --moe-lower-to-cpu="selection=avx2" 2>&1 | FileCheck %s --check-prefix=SELECTION
// SELECTION: for the --selection option: Cannot find option named 'avx2'!
// SELECTION: error: --moe-lower-to-cpu: bad option value in 'selection=avx2'; the options are: bufferize, fuse-routing, parallel, selection
// RUN: not moe-opt %s --moe-lower-to-gpu-emulator="bogus" 2>&1 | FileCheck %s --check-prefix=EMU
// EMU: error: --moe-lower-to-gpu-emulator: no such option bogus; the options are: bufferize, chip, fuse-routing, host-copies, race-check (moe-opt --help describes them)
//
// A chip typo gets the valid form and list.
// RUN: not moe-opt %s --moe-lower-to-nvvm="chip=sm90" 2>&1 | FileCheck %s --check-prefix=CHIP -DPIPELINE=moe-lower-to-nvvm
// RUN: not moe-opt %s --moe-lower-to-gpu-emulator="chip=sm90" 2>&1 | FileCheck %s --check-prefix=CHIP -DPIPELINE=moe-lower-to-gpu-emulator
// RUN: not moe-opt %s --moe-lower-to-nvvm="chip=sm_70" 2>&1 | FileCheck %s --check-prefix=CHIP70
// CHIP: error: --[[PIPELINE]]: unknown chip 'sm90': write sm_<major><minor>, optionally followed by 'a' or 'f' (e.g. chip=sm_90 or chip=sm_90a), one of: sm_75, sm_80, sm_86, sm_87, sm_88, sm_89, sm_90, sm_90a, sm_100, sm_100a, sm_100f, sm_101, sm_101a, sm_101f, sm_103, sm_103a, sm_103f, sm_110, sm_110a, sm_110f, sm_120, sm_120a, sm_120f, sm_121, sm_121a, sm_121f
// CHIP70: error: --moe-lower-to-nvvm: unknown chip 'sm_70'
//
// A PTX version below the chip's is an error, not LLVM's fatal error.
// RUN: not moe-opt %s --moe-lower-to-nvvm="chip=sm_100a features=+ptx80" 2>&1 | FileCheck %s --check-prefix=PTX
// PTX: error: --moe-lower-to-nvvm: chip=sm_100a needs PTX 8.6 or later, but features=+ptx80 asks for 8.0: write features=+ptx86, or leave features out
//
// RUN: not moe-opt %s --moe-lower-to-nvvm="format=cubin" 2>&1 | FileCheck %s --check-prefix=FORMAT
// FORMAT: error: --moe-lower-to-nvvm: unknown format 'cubin': write bin, isa, fatbin or offloading
//
// The same checks through the plugin in the stock mlir-opt.
// RUN: not mlir-opt %s --load-dialect-plugin=%moe_plugin --load-pass-plugin=%moe_plugin \
// RUN:   --pass-pipeline="builtin.module(moe-lower-to-nvvm{chip=sm90})" 2>&1 \
// RUN:   | FileCheck %s --check-prefix=CHIP -DPIPELINE=moe-lower-to-nvvm

func.func @counts(%i: tensor<8x2xi32>) -> tensor<16xi32> {
  %c = moe.load %i {num_experts = 16} : tensor<8x2xi32> -> tensor<16xi32>
  return %c : tensor<16xi32>
}

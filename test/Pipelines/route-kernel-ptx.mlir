// The PTX of the DeepSeek-V3 router (256 experts, 8 groups keep 4, top-8,
// sigmoid, bias, normalize) on device buffers, for bf16 and f32 logits:
// - parameters: the five buffers' pointers, T and the leading (dynamic)
//   size of the three buffers of T rows, nothing else (the kernel is
//   outlined before anything folds, so the shapes, group sizes and
//   constants of the kernel stay constants in it: no division or remainder
//   by them; moe-kernel-pointer-args passes pointers, not descriptors);
// - the bias copied to workgroup memory once per block (a 16-byte-aligned
//   vector buffer) before the block's barrier, and read from there;
// - the grid-stride token loop in two versions, chosen by the alignment of
//   the logits' aligned pointer: element loads (8 bf16 or 8 f32 per lane)
//   when the rows are off 16-byte boundaries, else one 16-byte load per lane
//   and 512-byte row chunk (1 for bf16, 2 for f32) and no other global load;
// - the group scores in registers: the static loops over groups and rounds
//   are unrolled, so nothing goes to local memory (no stack frame).
// RUN: rm -rf %t && moe-opt %s --moe-lower-to-nvvm="chip=sm_90 format=isa host-copies=0 ptx-dir=%t" -o /dev/null
// RUN: FileCheck %s --check-prefixes=CHECK,BF16 --implicit-check-not=div.u32 --implicit-check-not=rem.u32 --implicit-check-not=div.s32 --implicit-check-not=.local < %t/moe_route_kernel.ptx
// RUN: FileCheck %s --check-prefixes=CHECK,F32 --implicit-check-not=div.u32 --implicit-check-not=rem.u32 --implicit-check-not=div.s32 --implicit-check-not=.local < %t/moe_route_kernel_0.ptx

// CHECK-LABEL: .visible .entry moe_route_kernel(
// CHECK-COUNT-9: .param
// CHECK-NEXT: )
// CHECK: .shared .align 4 .b8 __wg_moe_route_kernel_0[1024];
// BF16: .shared .align 32 .b8 __wg_moe_route_kernel_1[1024];
// F32: .shared .align 16 .b8 __wg_moe_route_kernel_1[1024];
// CHECK: ld.global.b32
// CHECK: st.shared.v4.b32
// CHECK: bar.sync 0;
// CHECK: and.b64 [[OFF:%rd[0-9]+]], %rd{{[0-9]+}}, 15;
// CHECK-NEXT: setp.eq.b64 [[ALIGNED:%p[0-9]+]], [[OFF]], 0;
// CHECK-NEXT: @[[ALIGNED]] bra [[VECTOR:\$L__BB0_[0-9]+]];
// BF16-COUNT-8: ld.global.b16
// F32-COUNT-8: ld.global.b32
// CHECK-NOT: ld.global
// CHECK: ld.shared.v4.b32
// CHECK-NOT: ld.global
// CHECK: [[VECTOR]]:
// CHECK-NOT: ld.global
// BF16: ld.global.v4.b32
// F32: ld.global.v4.b32 {{.*}}, [[[ROW:%rd[0-9]+]]];
// F32-NEXT: ld.global.v4.b32 {{.*}}, [[[ROW]]+512];
// CHECK-NOT: ld.global
// CHECK: ld.shared.v4.b32
// CHECK-NOT: ld.global
// CHECK: ret;

func.func @dsv3_bf16(%x: memref<?x256xbf16>, %b: memref<256xf32>, %w: memref<?x8xf32>,
    %i: memref<?x8xi32>, %c: memref<256xi32>) {
  moe.buffer.route sigmoid ins(%x : memref<?x256xbf16>) bias(%b : memref<256xf32>)
      outs(%w, %i, %c : memref<?x8xf32>, memref<?x8xi32>, memref<256xi32>)
      {k = 8, num_groups = 8, topk_groups = 4, normalize, scale = 2.5 : f32}
  return
}

func.func @dsv3_f32(%x: memref<?x256xf32>, %b: memref<256xf32>, %w: memref<?x8xf32>,
    %i: memref<?x8xi32>, %c: memref<256xi32>) {
  moe.buffer.route sigmoid ins(%x : memref<?x256xf32>) bias(%b : memref<256xf32>)
      outs(%w, %i, %c : memref<?x8xf32>, memref<?x8xi32>, memref<256xi32>)
      {k = 8, num_groups = 8, topk_groups = 4, normalize, scale = 2.5 : f32}
  return
}

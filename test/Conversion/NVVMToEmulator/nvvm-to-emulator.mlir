// RUN: moe-opt %s --convert-nvvm-kernels-to-emulator | FileCheck %s
// RUN: moe-opt %s --convert-nvvm-kernels-to-emulator="race-check=1" | FileCheck %s --check-prefix=RACE

// A kernel with every emulated NVVM op, a workgroup buffer and a libdevice
// call, launched from host LLVM code.

// With race-check, each access to workgroup memory is reported first (its
// address, size and kind: 1 write, 2 atomic); other memory is not.
// RACE-LABEL: llvm.func internal @moe_emu.kernels.scale(
// RACE: %[[SLOT:.*]] = llvm.getelementptr
// RACE: %[[WRITE:.*]] = llvm.mlir.constant(1 : i32) : i32
// RACE: llvm.call @moeEmuSharedAccess(%[[SLOT]], %{{.*}}, %[[WRITE]]) : (!llvm.ptr, i64, i32) -> ()
// RACE-NEXT: llvm.store %{{.*}}, %[[SLOT]] : f32, !llvm.ptr
// RACE: %[[ATOMIC:.*]] = llvm.mlir.constant(2 : i32) : i32
// RACE: llvm.call @moeEmuSharedAccess(%[[SLOT]], %{{.*}}, %[[ATOMIC]]) : (!llvm.ptr, i64, i32) -> ()
// RACE-NEXT: llvm.atomicrmw fadd %[[SLOT]]
// RACE-NOT: moeEmuSharedAccess
// RACE: llvm.func @moeEmuSharedAccess(!llvm.ptr, i64, i32)
// CHECK-NOT: moeEmuSharedAccess

// CHECK-NOT: gpu.container_module
// CHECK-NOT: gpu.module
// CHECK-LABEL: llvm.mlir.global private constant @moe_emu.kernels.scale.name("kernels::scale\00")
// CHECK: llvm.mlir.global internal @moe_emu.kernels.slots() {addr_space = 0 : i32} : !llvm.array<64 x f32>

// CHECK-LABEL: llvm.func internal @moe_emu.kernels.scale(%{{.*}}: !llvm.ptr, %{{.*}}: i32)
// CHECK-NOT: nvvm.
// CHECK: %[[TID_CODE:.*]] = llvm.mlir.constant(0 : i32) : i32
// CHECK: %[[TID:.*]] = llvm.call @moeEmuSpecialRegister(%[[TID_CODE]]) : (i32) -> i32
// CHECK: %[[NTID_CODE:.*]] = llvm.mlir.constant(3 : i32) : i32
// CHECK: llvm.call @moeEmuSpecialRegister(%[[NTID_CODE]]) : (i32) -> i32
// CHECK: %[[CTAID_CODE:.*]] = llvm.mlir.constant(6 : i32) : i32
// CHECK: llvm.call @moeEmuSpecialRegister(%[[CTAID_CODE]]) : (i32) -> i32
// CHECK: %[[SLOTS:.*]] = llvm.mlir.addressof @moe_emu.kernels.slots : !llvm.ptr
// CHECK: %[[SLOT:.*]] = llvm.getelementptr %[[SLOTS]][0, %{{.*}}] : (!llvm.ptr, i32) -> !llvm.ptr, !llvm.array<64 x f32>
// CHECK: llvm.store %{{.*}}, %[[SLOT]] : f32, !llvm.ptr
// CHECK: llvm.call @moeEmuBarrier() : () -> ()
// CHECK: %[[BITS:.*]] = llvm.bitcast %{{.*}} : f32 to i32
// CHECK: %[[BFLY:.*]] = llvm.mlir.constant(0 : i32) : i32
// CHECK: %[[RBITS:.*]] = llvm.call @moeEmuShuffle(%[[BFLY]], %{{.*}}, %[[BITS]], %{{.*}}, %{{.*}}) : (i32, i32, i32, i32, i32) -> i32
// CHECK: %[[R:.*]] = llvm.bitcast %[[RBITS]] : i32 to f32
// CHECK: %[[FLAG:.*]] = llvm.call @moeEmuShufflePredicate() : () -> i32
// CHECK: %[[VALID:.*]] = llvm.icmp "ne" %[[FLAG]], %{{.*}} : i32
// CHECK: %[[PAIR0:.*]] = llvm.mlir.poison : !llvm.struct<(f32, i1)>
// CHECK: %[[PAIR1:.*]] = llvm.insertvalue %[[R]], %[[PAIR0]][0] : !llvm.struct<(f32, i1)>
// CHECK: llvm.insertvalue %[[VALID]], %[[PAIR1]][1] : !llvm.struct<(f32, i1)>
// CHECK: %[[IDX:.*]] = llvm.mlir.constant(3 : i32) : i32
// CHECK: llvm.call @moeEmuShuffle(%[[IDX]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (i32, i32, i32, i32, i32) -> i32
// CHECK: %[[MAX:.*]] = llvm.mlir.constant(5 : i32) : i32
// CHECK: llvm.call @moeEmuRedux(%[[MAX]], %{{.*}}, %{{.*}}) : (i32, i32, i32) -> i32
// CHECK: llvm.call @__nv_expf(%{{.*}}) : (f32) -> f32
// CHECK: llvm.atomicrmw fadd %{{.*}}, %{{.*}} monotonic : !llvm.ptr, f32

// The thunk loads each parameter through the pointer array.
// CHECK: llvm.func internal @moe_emu.kernels.scale.thunk(%[[PARAMS:[a-z0-9]+]]: !llvm.ptr)
// CHECK: %[[P0:.*]] = llvm.getelementptr %[[PARAMS]][0] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[A0:.*]] = llvm.load %[[P0]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[V0:.*]] = llvm.load %[[A0]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[P1:.*]] = llvm.getelementptr %[[PARAMS]][1] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[A1:.*]] = llvm.load %[[P1]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[V1:.*]] = llvm.load %[[A1]] : !llvm.ptr -> i32
// CHECK: llvm.call @moe_emu.kernels.scale(%[[V0]], %[[V1]]) : (!llvm.ptr, i32) -> ()

// The libdevice declaration is the host's.
// CHECK: llvm.func @__nv_expf(f32) -> f32
// CHECK-NOT: llvm.func @__nv_expf

// The launch packs the operands, the workgroup buffers and their sizes.
// CHECK: llvm.func @host(%[[DATA:[a-z0-9]+]]: !llvm.ptr, %[[N:[a-z0-9]+]]: i32, %[[BLOCKS:[a-z0-9]+]]: i64)
// CHECK: %[[STACK:.*]] = llvm.intr.stacksave : !llvm.ptr
// CHECK: %[[PARAMS:.*]] = llvm.alloca %{{.*}} x !llvm.ptr : (i64) -> !llvm.ptr
// CHECK: %[[S0:.*]] = llvm.alloca %{{.*}} x !llvm.ptr : (i64) -> !llvm.ptr
// CHECK: llvm.store %[[DATA]], %[[S0]] : !llvm.ptr, !llvm.ptr
// CHECK: %[[E0:.*]] = llvm.getelementptr %[[PARAMS]][0] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: llvm.store %[[S0]], %[[E0]] : !llvm.ptr, !llvm.ptr
// CHECK: %[[S1:.*]] = llvm.alloca %{{.*}} x i32 : (i64) -> !llvm.ptr
// CHECK: llvm.store %[[N]], %[[S1]] : i32, !llvm.ptr
// CHECK: %[[E1:.*]] = llvm.getelementptr %[[PARAMS]][1] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: llvm.store %[[S1]], %[[E1]] : !llvm.ptr, !llvm.ptr
// CHECK: %[[BUFFERS:.*]] = llvm.alloca %{{.*}} x !llvm.ptr : (i64) -> !llvm.ptr
// CHECK: %[[BYTES:.*]] = llvm.alloca %{{.*}} x i64 : (i64) -> !llvm.ptr
// CHECK: %[[SLOTS:.*]] = llvm.mlir.addressof @moe_emu.kernels.slots : !llvm.ptr
// CHECK: llvm.store %[[SLOTS]], %{{.*}} : !llvm.ptr, !llvm.ptr
// CHECK: %[[SIZE:.*]] = llvm.mlir.constant(256 : i64) : i64
// CHECK: llvm.store %[[SIZE]], %{{.*}} : i64, !llvm.ptr
// CHECK: %[[NAME:.*]] = llvm.mlir.addressof @moe_emu.kernels.scale.name : !llvm.ptr
// CHECK: %[[THUNK:.*]] = llvm.mlir.addressof @moe_emu.kernels.scale.thunk : !llvm.ptr
// CHECK: llvm.call @moeEmuLaunch(%[[NAME]], %[[THUNK]], %[[PARAMS]], %[[BLOCKS]], [[ONE:%[0-9]+]], [[ONE]], [[THREADS:%[0-9]+]], [[ONE]], [[ONE]], %{{[0-9]+}}, %[[BUFFERS]], %[[BYTES]], %{{[0-9]+}}) : (!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64, i64, i64, i64, i32, !llvm.ptr, !llvm.ptr, i32) -> ()
// CHECK: llvm.intr.stackrestore %[[STACK]] : !llvm.ptr
// CHECK-NOT: gpu.launch_func
// CHECK-DAG: llvm.func @moeEmuSpecialRegister(i32) -> i32
// CHECK-DAG: llvm.func @moeEmuBarrier()
// CHECK-DAG: llvm.func @moeEmuShuffle(i32, i32, i32, i32, i32) -> i32
// CHECK-DAG: llvm.func @moeEmuShufflePredicate() -> i32
// CHECK-DAG: llvm.func @moeEmuRedux(i32, i32, i32) -> i32
// CHECK-DAG: llvm.func @moeEmuLaunch(!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64, i64, i64, i64, i32, !llvm.ptr, !llvm.ptr, i32)
module attributes {gpu.container_module} {
  gpu.module @kernels {
    llvm.mlir.global internal @slots() {addr_space = 3 : i32} : !llvm.array<64 x f32>
    llvm.func @__nv_expf(f32) -> f32
    llvm.func @scale(%data: !llvm.ptr, %n: i32) attributes {gpu.kernel, nvvm.kernel, nvvm.maxntid = array<i32: 64, 1, 1>} {
      %tid = nvvm.read.ptx.sreg.tid.x : i32
      %ntid = nvvm.read.ptx.sreg.ntid.x : i32
      %ctaid = nvvm.read.ptx.sreg.ctaid.x : i32
      %base = llvm.mul %ctaid, %ntid : i32
      %i = llvm.add %base, %tid : i32
      %slots = llvm.mlir.addressof @slots : !llvm.ptr<3>
      %slot = llvm.getelementptr %slots[0, %tid] : (!llvm.ptr<3>, i32) -> !llvm.ptr<3>, !llvm.array<64 x f32>
      %v = llvm.sitofp %i : i32 to f32
      llvm.store %v, %slot : f32, !llvm.ptr<3>
      nvvm.barrier0
      %all = llvm.mlir.constant(-1 : i32) : i32
      %one = llvm.mlir.constant(1 : i32) : i32
      %clamp = llvm.mlir.constant(31 : i32) : i32
      %pair = nvvm.shfl.sync bfly %all, %v, %one, %clamp {return_value_and_is_valid} : f32 -> !llvm.struct<(f32, i1)>
      %r = llvm.extractvalue %pair[0] : !llvm.struct<(f32, i1)>
      %ri = llvm.bitcast %r : f32 to i32
      %s = nvvm.shfl.sync idx %all, %ri, %one, %clamp : i32 -> i32
      %sf = llvm.bitcast %s : i32 to f32
      %m = nvvm.redux.sync max %s, %all : i32 -> i32
      %mf = llvm.bitcast %m : i32 to f32
      %e = llvm.call @__nv_expf(%mf) : (f32) -> f32
      %generic = llvm.addrspacecast %slot : !llvm.ptr<3> to !llvm.ptr
      %old = llvm.atomicrmw fadd %generic, %e monotonic : !llvm.ptr, f32
      llvm.return
    }
  }
  llvm.func @__nv_expf(f32) -> f32
  llvm.func @host(%data: !llvm.ptr, %n: i32, %blocks: i64) {
    %one = llvm.mlir.constant(1 : i64) : i64
    %threads = llvm.mlir.constant(64 : i64) : i64
    gpu.launch_func @kernels::@scale blocks in (%blocks, %one, %one) threads in (%threads, %one, %one) : i64 args(%data : !llvm.ptr, %n : i32)
    llvm.return
  }
}

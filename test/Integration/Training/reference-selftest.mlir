// The training reference checks itself: its gradients against central
// finite differences (float64) and PyTorch autograd of the same forwards
// (skipped when torch is missing), and hand-computed values.
// RUN: %moe_ref_train selftest | FileCheck %s
// CHECK: selftest: {{[0-9]+}} checks passed

//===- LibDevice.cpp - libdevice math functions on libm -------------------===//
//
// Part of moe-mlir.
//
// The `__nv_*` functions that convert-gpu-to-nvvm calls for math ops; the
// emulated kernels keep them as external declarations.
//
//===----------------------------------------------------------------------===//

#include "Emulator.h"

#include <cmath>

/// __nv_<name>f and __nv_<name>: std::<name> on float and double.
#define MOE_EMU_UNARY(name)                                                    \
  MOE_EMU_EXPORT float __nv_##name##f(float x) { return std::name(x); }        \
  MOE_EMU_EXPORT double __nv_##name(double x) { return std::name(x); }
#define MOE_EMU_BINARY(name)                                                   \
  MOE_EMU_EXPORT float __nv_##name##f(float x, float y) {                      \
    return std::name(x, y);                                                    \
  }                                                                            \
  MOE_EMU_EXPORT double __nv_##name(double x, double y) {                      \
    return std::name(x, y);                                                    \
  }

MOE_EMU_UNARY(exp)
MOE_EMU_UNARY(exp2)
MOE_EMU_UNARY(expm1)
MOE_EMU_UNARY(log)
MOE_EMU_UNARY(log2)
MOE_EMU_UNARY(log10)
MOE_EMU_UNARY(log1p)
MOE_EMU_UNARY(sqrt)
MOE_EMU_UNARY(cbrt)
MOE_EMU_UNARY(fabs)
MOE_EMU_UNARY(floor)
MOE_EMU_UNARY(ceil)
MOE_EMU_UNARY(trunc)
MOE_EMU_UNARY(round)
MOE_EMU_UNARY(rint)
MOE_EMU_UNARY(tanh)
MOE_EMU_UNARY(sin)
MOE_EMU_UNARY(cos)
MOE_EMU_UNARY(tan)
MOE_EMU_UNARY(atan)
MOE_EMU_UNARY(erf)
MOE_EMU_BINARY(pow)
MOE_EMU_BINARY(fmax)
MOE_EMU_BINARY(fmin)
MOE_EMU_BINARY(fmod)
MOE_EMU_BINARY(atan2)
MOE_EMU_BINARY(copysign)

MOE_EMU_EXPORT float __nv_rsqrtf(float x) { return 1.0f / std::sqrt(x); }
MOE_EMU_EXPORT double __nv_rsqrt(double x) { return 1.0 / std::sqrt(x); }
MOE_EMU_EXPORT int __nv_isnanf(float x) { return std::isnan(x); }
MOE_EMU_EXPORT int __nv_isinff(float x) { return std::isinf(x); }

#undef MOE_EMU_UNARY
#undef MOE_EMU_BINARY

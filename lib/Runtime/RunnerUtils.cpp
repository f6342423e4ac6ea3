//===- RunnerUtils.cpp - printing helpers without LLVM dependencies -------===//
//
// The printing entry points that lowered test and demo programs call
// (printMemrefF32/I32/I64, printF32, printI64, printComma, printNewline),
// with the output format of MLIR's libmlir_runner_utils, in a library that
// depends on nothing but the C++ runtime. Debian's runner-utils libraries
// link libLLVM and libMLIR; ahead-of-time executables for a GPU machine that
// has no LLVM link this one instead (scripts/gpu-bundle).
//
//===----------------------------------------------------------------------===//

#include <cstdint>
#include <cstdio>
#include <iostream>
#include <vector>

#define MOE_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

/// The unranked memref descriptor that a call with a memref<*xT> argument
/// passes: {allocated, aligned, offset, sizes[rank], strides[rank]}.
template <typename T>
struct Descriptor {
  T *allocated;
  T *aligned;
  int64_t offset;
  int64_t sizesAndStrides[];
};

template <typename T>
void printElement(std::ostream &os, T value) {
  if constexpr (sizeof(T) == 1)
    os << static_cast<int>(value);
  else
    os << value;
}

/// Prints dimension `dim` of a strided view, nesting brackets as MLIR does.
template <typename T>
void printData(std::ostream &os, const T *base, int64_t rank, int64_t dim,
               const int64_t *sizes, const int64_t *strides, int64_t indent) {
  if (rank == 0) {
    os << "[";
    printElement(os, *base);
    os << "]";
    return;
  }
  os << "[";
  for (int64_t i = 0; i < sizes[dim]; ++i) {
    const T *element = base + i * strides[dim];
    if (dim + 1 == rank) {
      printElement(os, *element);
    } else {
      printData(os, element, rank, dim + 1, sizes, strides, indent + 1);
    }
    if (i + 1 < sizes[dim]) {
      os << ", ";
      if (dim + 1 < rank)
        os << "\n" << std::string(indent + 1, ' ');
    }
  }
  os << "]";
}

template <typename T>
void printMemref(int64_t rank, void *opaque) {
  auto *descriptor = static_cast<Descriptor<T> *>(opaque);
  const int64_t *sizes = descriptor->sizesAndStrides;
  const int64_t *strides = descriptor->sizesAndStrides + rank;
  std::ostream &os = std::cout;
  os << "Unranked Memref base@ = " << static_cast<void *>(descriptor->aligned)
     << " rank = " << rank << " offset = " << descriptor->offset
     << " sizes = [";
  for (int64_t i = 0; i < rank; ++i)
    os << (i ? ", " : "") << sizes[i];
  os << "] strides = [";
  for (int64_t i = 0; i < rank; ++i)
    os << (i ? ", " : "") << strides[i];
  os << "] data = \n";
  bool empty = false;
  for (int64_t i = 0; i < rank; ++i)
    empty |= sizes[i] == 0;
  if (!empty)
    printData(os, descriptor->aligned + descriptor->offset, rank, 0, sizes,
              strides, 0);
  else
    os << "[]";
  os << "\n";
  os.flush();
}

} // namespace

MOE_EXPORT void printMemrefF32(int64_t rank, void *descriptor) {
  printMemref<float>(rank, descriptor);
}
MOE_EXPORT void printMemrefF64(int64_t rank, void *descriptor) {
  printMemref<double>(rank, descriptor);
}
MOE_EXPORT void printMemrefI32(int64_t rank, void *descriptor) {
  printMemref<int32_t>(rank, descriptor);
}
MOE_EXPORT void printMemrefI64(int64_t rank, void *descriptor) {
  printMemref<int64_t>(rank, descriptor);
}
MOE_EXPORT void printMemrefI8(int64_t rank, void *descriptor) {
  printMemref<int8_t>(rank, descriptor);
}

MOE_EXPORT void printF32(float value) { std::cout << value; }
MOE_EXPORT void printF64(double value) { std::cout << value; }
MOE_EXPORT void printI64(int64_t value) { std::cout << value; }
MOE_EXPORT void printU64(uint64_t value) { std::cout << value; }
MOE_EXPORT void printComma() { std::cout << ", "; }
MOE_EXPORT void printNewline() { std::cout << "\n"; }
MOE_EXPORT void printOpen() { std::cout << "( "; }
MOE_EXPORT void printClose() { std::cout << " )"; }

//===----------------------------------------------------------------------===//
// Compiler builtins
//===----------------------------------------------------------------------===//

// LLVM's x86 backend may legalize bf16 values through __truncsfbf2, which
// GCC 12's libgcc (Debian 12) does not have; JIT runs find it in libLLVM.
// Round to nearest even; NaNs stay quiet NaNs. The x86-64 ABI returns a
// bfloat in the low 16 bits of xmm0, which is where a float whose bit
// pattern is the bf16 value puts them.
MOE_EXPORT float __truncsfbf2(float value) {
  uint32_t bits;
  __builtin_memcpy(&bits, &value, sizeof(bits));
  uint32_t result;
  if ((bits & 0x7fffffffu) > 0x7f800000u) {
    result = (bits >> 16) | 0x0040u;
  } else {
    uint32_t roundingBias = 0x7fffu + ((bits >> 16) & 1u);
    result = (bits + roundingBias) >> 16;
  }
  float out;
  __builtin_memcpy(&out, &result, sizeof(out));
  return out;
}

//===- route_bench.cpp - time the compiled routing gate on a GPU ----------===//
//
// Usage: route_bench CONFIG T ITERS DIR
//   CONFIG: dsv3_f32 | dsv3_bf16 | kimi_f32 | kimi_bf16 (bench/gpu/route_gate.mlir)
// Generates logits ([T, E], random normal, f32 or bf16) and a bias ([E]),
// writes them to DIR/{logits,bias}.bin for the PyTorch side, calls the
// compiled gate ITERS times after a warm-up, and prints one line
//   CONFIG T microseconds_per_call
// timed with the wall clock around the calls (each call launches and waits
// for its stream, so this is per-call latency including the launch). The
// outputs of the last call go to DIR/{weights,indices,counts}.bin.
//
//===----------------------------------------------------------------------===//

#include <cuda.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

template <int Rank>
struct MemRef {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[Rank];
  int64_t strides[Rank];
};

MemRef<1> vector(void *ptr, int64_t n) { return {ptr, ptr, 0, {n}, {1}}; }
MemRef<2> matrix(void *ptr, int64_t rows, int64_t cols) {
  return {ptr, ptr, 0, {rows, cols}, {cols, 1}};
}

using Gate = void (*)(MemRef<2> *, MemRef<1> *, MemRef<2> *, MemRef<2> *,
                      MemRef<1> *);

} // namespace

extern "C" {
void _mlir_ciface_dsv3_f32(MemRef<2> *, MemRef<1> *, MemRef<2> *, MemRef<2> *, MemRef<1> *);
void _mlir_ciface_dsv3_bf16(MemRef<2> *, MemRef<1> *, MemRef<2> *, MemRef<2> *, MemRef<1> *);
void _mlir_ciface_kimi_f32(MemRef<2> *, MemRef<1> *, MemRef<2> *, MemRef<2> *, MemRef<1> *);
void _mlir_ciface_kimi_bf16(MemRef<2> *, MemRef<1> *, MemRef<2> *, MemRef<2> *, MemRef<1> *);
// From moe_cuda_runtime: the same context the compiled code uses.
void *mgpuMemAlloc(intptr_t sizeBytes, CUstream stream, int8_t isHostShared);
void mgpuMemcpy(void *dst, void *src, intptr_t sizeBytes, CUstream stream);
void mgpuStreamSynchronize(CUstream stream);
}

static void check(bool ok, const char *what) {
  if (!ok) {
    std::fprintf(stderr, "route_bench: %s\n", what);
    std::exit(1);
  }
}

static void writeFile(const std::string &path, const void *data, size_t bytes) {
  FILE *f = std::fopen(path.c_str(), "wb");
  check(f && std::fwrite(data, 1, bytes, f) == bytes, "cannot write output");
  std::fclose(f);
}

int main(int argc, char **argv) {
  check(argc == 5, "usage: route_bench CONFIG T ITERS DIR");
  std::string config = argv[1];
  int64_t tokens = std::atoll(argv[2]);
  int iters = std::atoi(argv[3]);
  std::string dir = argv[4];
  const int64_t k = 8;
  int64_t experts = config.rfind("dsv3", 0) == 0 ? 256 : 384;
  bool bf16 = config.find("bf16") != std::string::npos;
  Gate gate = config == "dsv3_f32"    ? _mlir_ciface_dsv3_f32
              : config == "dsv3_bf16" ? _mlir_ciface_dsv3_bf16
              : config == "kimi_f32"  ? _mlir_ciface_kimi_f32
              : config == "kimi_bf16" ? _mlir_ciface_kimi_bf16
                                      : nullptr;
  check(gate, "unknown CONFIG");

  // Inputs: logits ~ N(0, 1), a bias of about 1e-2.
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.f, 1.f);
  size_t n = static_cast<size_t>(tokens * experts);
  std::vector<float> logits(n);
  for (float &v : logits)
    v = normal(rng);
  std::vector<uint16_t> logitsBf16(n);
  for (size_t i = 0; i < n; ++i) { // round to nearest even
    uint32_t bits;
    std::memcpy(&bits, &logits[i], 4);
    logitsBf16[i] = static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
  }
  std::vector<float> bias(static_cast<size_t>(experts));
  for (float &v : bias)
    v = 0.01f * normal(rng);
  size_t logitBytes = n * (bf16 ? 2 : 4);
  void *hostLogits = bf16 ? static_cast<void *>(logitsBf16.data())
                          : static_cast<void *>(logits.data());
  writeFile(dir + "/logits.bin", hostLogits, logitBytes);
  writeFile(dir + "/bias.bin", bias.data(), bias.size() * 4);

  void *dLogits = mgpuMemAlloc(static_cast<intptr_t>(logitBytes), nullptr, 0);
  void *dBias = mgpuMemAlloc(experts * 4, nullptr, 0);
  void *dWeights = mgpuMemAlloc(tokens * k * 4, nullptr, 0);
  void *dIndices = mgpuMemAlloc(tokens * k * 4, nullptr, 0);
  void *dCounts = mgpuMemAlloc(experts * 4, nullptr, 0);
  mgpuMemcpy(dLogits, hostLogits, static_cast<intptr_t>(logitBytes), nullptr);
  mgpuMemcpy(dBias, bias.data(), experts * 4, nullptr);
  mgpuStreamSynchronize(nullptr);

  MemRef<2> x = matrix(dLogits, tokens, experts);
  MemRef<1> b = vector(dBias, experts);
  MemRef<2> w = matrix(dWeights, tokens, k);
  MemRef<2> idx = matrix(dIndices, tokens, k);
  MemRef<1> c = vector(dCounts, experts);
  for (int i = 0; i < 10; ++i)
    gate(&x, &b, &w, &idx, &c);
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i)
    gate(&x, &b, &w, &idx, &c);
  auto stop = std::chrono::steady_clock::now();
  double us =
      std::chrono::duration<double, std::micro>(stop - start).count() / iters;
  std::printf("%s %lld %.3f\n", config.c_str(), static_cast<long long>(tokens), us);

  std::vector<float> weights(static_cast<size_t>(tokens * k));
  std::vector<int32_t> indices(static_cast<size_t>(tokens * k));
  std::vector<int32_t> counts(static_cast<size_t>(experts));
  mgpuMemcpy(weights.data(), dWeights, tokens * k * 4, nullptr);
  mgpuMemcpy(indices.data(), dIndices, tokens * k * 4, nullptr);
  mgpuMemcpy(counts.data(), dCounts, experts * 4, nullptr);
  mgpuStreamSynchronize(nullptr);
  writeFile(dir + "/weights.bin", weights.data(), weights.size() * 4);
  writeFile(dir + "/indices.bin", indices.data(), indices.size() * 4);
  writeFile(dir + "/counts.bin", counts.data(), counts.size() * 4);
  return 0;
}

//===- train_bench.cpp - time the compiled router training step on a GPU --===//
//
// Usage: train_bench CONFIG T ITERS DIR
//   CONFIG: dsv3_f32 | dsv3_bf16 (bench/gpu/train_step.mlir)
// Generates logits ([T, 256], random normal, f32 or bf16) and a bias, routes
// them with the compiled gate (bench/gpu/route_gate.mlir) for the indices,
// draws d loss / d weights ([T, 8], random normal) and takes d loss / d
// balance loss = 1e-4 (DeepSeek-V3's alpha). Writes the inputs to
// DIR/{logits,indices,dw}.bin for the PyTorch side, times the fused step
// (route_aux_grad) and the routing gradient alone, ITERS calls each after a
// warm-up, and prints one line
//   CONFIG T step_microseconds route_grad_microseconds
// (wall clock around the calls; each call launches and waits for its
// stream). dx of the last step goes to DIR/dx.bin, of the last routing
// gradient to DIR/dx_route.bin.
//
//===----------------------------------------------------------------------===//

#include <cuda.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

template <int Rank> struct MemRef {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[Rank];
  int64_t strides[Rank];
};

MemRef<0> scalar(void *ptr) { return {ptr, ptr, 0, {}, {}}; }
MemRef<1> vector(void *ptr, int64_t n) { return {ptr, ptr, 0, {n}, {1}}; }
MemRef<2> matrix(void *ptr, int64_t rows, int64_t cols) {
  return {ptr, ptr, 0, {rows, cols}, {cols, 1}};
}

using Gate = void (*)(MemRef<2> *, MemRef<1> *, MemRef<2> *, MemRef<2> *,
                      MemRef<1> *);
using Step = void (*)(MemRef<2> *, MemRef<2> *, MemRef<2> *, MemRef<0> *,
                      MemRef<2> *);
using RouteGrad = void (*)(MemRef<2> *, MemRef<2> *, MemRef<2> *, MemRef<2> *);

} // namespace

extern "C" {
void _mlir_ciface_dsv3_f32(MemRef<2> *, MemRef<1> *, MemRef<2> *, MemRef<2> *,
                           MemRef<1> *);
void _mlir_ciface_dsv3_bf16(MemRef<2> *, MemRef<1> *, MemRef<2> *, MemRef<2> *,
                            MemRef<1> *);
void _mlir_ciface_dsv3_f32_step(MemRef<2> *, MemRef<2> *, MemRef<2> *,
                                MemRef<0> *, MemRef<2> *);
void _mlir_ciface_dsv3_bf16_step(MemRef<2> *, MemRef<2> *, MemRef<2> *,
                                 MemRef<0> *, MemRef<2> *);
void _mlir_ciface_dsv3_f32_route_grad(MemRef<2> *, MemRef<2> *, MemRef<2> *,
                                      MemRef<2> *);
void _mlir_ciface_dsv3_bf16_route_grad(MemRef<2> *, MemRef<2> *, MemRef<2> *,
                                       MemRef<2> *);
// From moe_cuda_runtime: the same context the compiled code uses.
void *mgpuMemAlloc(intptr_t sizeBytes, CUstream stream, int8_t isHostShared);
void mgpuMemcpy(void *dst, void *src, intptr_t sizeBytes, CUstream stream);
void mgpuStreamSynchronize(CUstream stream);
}

static void check(bool ok, const char *what) {
  if (!ok) {
    std::fprintf(stderr, "train_bench: %s\n", what);
    std::exit(1);
  }
}

static void writeFile(const std::string &path, const void *data, size_t bytes) {
  FILE *f = std::fopen(path.c_str(), "wb");
  check(f && std::fwrite(data, 1, bytes, f) == bytes, "cannot write output");
  std::fclose(f);
}

static void *toDevice(const void *host, size_t bytes) {
  void *device = mgpuMemAlloc(static_cast<intptr_t>(bytes), nullptr, 0);
  mgpuMemcpy(device, const_cast<void *>(host), static_cast<intptr_t>(bytes),
             nullptr);
  return device;
}

static void toFile(const std::string &path, void *device, size_t bytes) {
  std::vector<char> host(bytes);
  mgpuMemcpy(host.data(), device, static_cast<intptr_t>(bytes), nullptr);
  mgpuStreamSynchronize(nullptr);
  writeFile(path, host.data(), bytes);
}

/// Microseconds per call of `call`, ITERS calls after 10 of warm-up.
template <typename Fn> static double timeCalls(Fn call, int iters) {
  for (int i = 0; i < 10; ++i)
    call();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i)
    call();
  auto stop = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::micro>(stop - start).count() /
         iters;
}

int main(int argc, char **argv) {
  check(argc == 5, "usage: train_bench CONFIG T ITERS DIR");
  std::string config = argv[1];
  int64_t tokens = std::atoll(argv[2]);
  int iters = std::atoi(argv[3]);
  std::string dir = argv[4];
  const int64_t k = 8, experts = 256;
  check(config == "dsv3_f32" || config == "dsv3_bf16", "unknown CONFIG");
  bool bf16 = config == "dsv3_bf16";
  Gate gate = bf16 ? _mlir_ciface_dsv3_bf16 : _mlir_ciface_dsv3_f32;
  Step step = bf16 ? _mlir_ciface_dsv3_bf16_step : _mlir_ciface_dsv3_f32_step;
  RouteGrad routeGrad = bf16 ? _mlir_ciface_dsv3_bf16_route_grad
                             : _mlir_ciface_dsv3_f32_route_grad;

  // Inputs: logits ~ N(0, 1), a bias of about 1e-2, dw ~ N(0, 1).
  std::mt19937 rng(4321);
  std::normal_distribution<float> normal(0.f, 1.f);
  size_t n = static_cast<size_t>(tokens * experts);
  std::vector<float> logits(n);
  for (float &v : logits)
    v = normal(rng);
  std::vector<uint16_t> logitsBf16(n);
  for (size_t i = 0; i < n; ++i) { // round to nearest even
    uint32_t bits;
    std::memcpy(&bits, &logits[i], 4);
    logitsBf16[i] =
        static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
  }
  std::vector<float> bias(static_cast<size_t>(experts));
  for (float &v : bias)
    v = 0.01f * normal(rng);
  std::vector<float> dw(static_cast<size_t>(tokens * k));
  for (float &v : dw)
    v = normal(rng);
  float dl = 1e-4f;
  size_t logitBytes = n * (bf16 ? 2 : 4);
  void *hostLogits = bf16 ? static_cast<void *>(logitsBf16.data())
                          : static_cast<void *>(logits.data());
  writeFile(dir + "/logits.bin", hostLogits, logitBytes);
  writeFile(dir + "/dw.bin", dw.data(), dw.size() * 4);

  void *dLogits = toDevice(hostLogits, logitBytes);
  void *dBias = toDevice(bias.data(), experts * 4);
  void *dDw = toDevice(dw.data(), dw.size() * 4);
  void *dDl = toDevice(&dl, 4);
  void *dWeights = mgpuMemAlloc(tokens * k * 4, nullptr, 0);
  void *dIndices = mgpuMemAlloc(tokens * k * 4, nullptr, 0);
  void *dCounts = mgpuMemAlloc(experts * 4, nullptr, 0);
  void *dDx = mgpuMemAlloc(static_cast<intptr_t>(n * 4), nullptr, 0);
  mgpuStreamSynchronize(nullptr);

  MemRef<2> x = matrix(dLogits, tokens, experts);
  MemRef<1> b = vector(dBias, experts);
  MemRef<2> w = matrix(dWeights, tokens, k);
  MemRef<2> idx = matrix(dIndices, tokens, k);
  MemRef<1> c = vector(dCounts, experts);
  MemRef<2> g = matrix(dDw, tokens, k);
  MemRef<0> l = scalar(dDl);
  MemRef<2> dx = matrix(dDx, tokens, experts);
  gate(&x, &b, &w, &idx, &c);
  toFile(dir + "/indices.bin", dIndices, tokens * k * 4);

  double routeUs = timeCalls([&] { routeGrad(&x, &idx, &g, &dx); }, iters);
  toFile(dir + "/dx_route.bin", dDx, n * 4);
  double stepUs = timeCalls([&] { step(&x, &idx, &g, &l, &dx); }, iters);
  toFile(dir + "/dx.bin", dDx, n * 4);
  std::printf("%s %lld %.3f %.3f\n", config.c_str(),
              static_cast<long long>(tokens), stepUs, routeUs);
  return 0;
}

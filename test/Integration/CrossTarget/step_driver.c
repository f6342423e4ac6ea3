// A host program for bench/cpu/route_step.mlir built for another target:
// step_driver WHICH T E K IN OUT runs step function WHICH (0: E = 256 in
// groups, 1: E = 64, 2: E = 384) on the logits and bias read from IN (f32,
// [T, E] then [E]) and writes the weights, indices, counts and new bias to
// OUT. No error handling beyond exit codes: it serves aarch64_check.py.
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

typedef struct { void *a, *b; int64_t off, size[2], stride[2]; } M2;
typedef struct { void *a, *b; int64_t off, size[1], stride[1]; } M1;
void _mlir_ciface_step_e256_g8(M2*, M1*, M2*, M2*, M1*, M1*);
void _mlir_ciface_step_e64(M2*, M1*, M2*, M2*, M1*, M1*);
void _mlir_ciface_step_e384(M2*, M1*, M2*, M2*, M1*, M1*);
int main(int argc, char **argv) {
  int which = atoi(argv[1]); int64_t T = atoll(argv[2]), E = atoll(argv[3]), K = atoll(argv[4]);
  float *x = malloc(T*E*4), *b = malloc(E*4), *w = malloc(T*K*4), *nb = malloc(E*4);
  int32_t *i = malloc(T*K*4), *c = malloc(E*4);
  FILE *f = fopen(argv[5], "rb");
  if (!f || fread(x, 4, T*E, f) != (size_t)(T*E) || fread(b, 4, E, f) != (size_t)E)
    return 2;
  fclose(f);
  M2 mx = {x, x, 0, {T, E}, {E, 1}}, mw = {w, w, 0, {T, K}, {K, 1}}, mi = {i, i, 0, {T, K}, {K, 1}};
  M1 mb = {b, b, 0, {E}, {1}}, mc = {c, c, 0, {E}, {1}}, mnb = {nb, nb, 0, {E}, {1}};
  if (which == 0) _mlir_ciface_step_e256_g8(&mx, &mb, &mw, &mi, &mc, &mnb);
  if (which == 1) _mlir_ciface_step_e64(&mx, &mb, &mw, &mi, &mc, &mnb);
  if (which == 2) _mlir_ciface_step_e384(&mx, &mb, &mw, &mi, &mc, &mnb);
  f = fopen(argv[6], "wb"); fwrite(w, 4, T*K, f); fwrite(i, 4, T*K, f); fwrite(c, 4, E, f); fwrite(nb, 4, E, f); fclose(f);
  return 0;
}

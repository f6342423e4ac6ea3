/* Calls the functions of the shared library that moe-compile.mlir builds. */
#include <stdint.h>
#include <stdio.h>

float imbalance4(int32_t c0, int32_t c1, int32_t c2, int32_t c3);

int main(void) {
  printf("imbalance4(1, 2, 3, 6) = %g\n", imbalance4(1, 2, 3, 6));
  printf("imbalance4(5, 1, 1, 1) = %g\n", imbalance4(5, 1, 1, 1));
  printf("imbalance4(0, 0, 0, 0) = %g\n", imbalance4(0, 0, 0, 0));
  return 0;
}

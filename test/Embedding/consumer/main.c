/*===- main.c - a C program embedding the moe dialect ---------------------===*\
|*                                                                            *|
|* Uses an installed moe-mlir through its C API alone:                        *|
|*   moe-consumer-c FILE.mlir [FORMAT]                                        *|
|* registers the dialects with mlirMoERegisterAllDialects and the passes     *|
|* with mlirMoERegisterPasses (nothing else), parses FILE, and prints it     *|
|* after moe-fuse-routing, after moe-lower-to-cpu and after                  *|
|* moe-lower-to-nvvm (kernels in FORMAT, default isa), each a textual        *|
|* pipeline.                                                                 *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "moe-c/Dialects.h"

#include "mlir-c/IR.h"
#include "mlir-c/Pass.h"
#include "mlir-c/Support.h"

#include <stdio.h>
#include <stdlib.h>

static void printToStdout(MlirStringRef str, void *userData) {
  (void)userData;
  fwrite(str.data, 1, str.length, stdout);
}

static void printToStderr(MlirStringRef str, void *userData) {
  (void)userData;
  fwrite(str.data, 1, str.length, stderr);
}

static char *readFile(const char *path) {
  FILE *file = fopen(path, "rb");
  if (!file)
    return NULL;
  fseek(file, 0, SEEK_END);
  long size = ftell(file);
  fseek(file, 0, SEEK_SET);
  char *data = malloc((size_t)size + 1);
  if (data && fread(data, 1, (size_t)size, file) != (size_t)size) {
    free(data);
    data = NULL;
  }
  if (data)
    data[size] = '\0';
  fclose(file);
  return data;
}

/* Runs `pipeline` on a copy of `module` and prints the result after a line
 * `== NAME`; returns 0 on success. */
static int runAndPrint(MlirContext ctx, MlirModule module, const char *name,
                       const char *pipeline) {
  MlirOperation copy = mlirOperationClone(mlirModuleGetOperation(module));
  MlirPassManager pm = mlirPassManagerCreate(ctx);
  MlirLogicalResult result = mlirParsePassPipeline(
      mlirPassManagerGetAsOpPassManager(pm),
      mlirStringRefCreateFromCString(pipeline), printToStderr, NULL);
  if (mlirLogicalResultIsSuccess(result))
    result = mlirPassManagerRunOnOp(pm, copy);
  mlirPassManagerDestroy(pm);
  if (mlirLogicalResultIsSuccess(result)) {
    printf("== %s\n", name);
    mlirOperationPrint(copy, printToStdout, NULL);
    printf("\n");
  }
  mlirOperationDestroy(copy);
  return mlirLogicalResultIsFailure(result);
}

int main(int argc, char **argv) {
  if (argc != 2 && argc != 3) {
    fprintf(stderr, "usage: moe-consumer-c FILE.mlir [FORMAT]\n");
    return 2;
  }
  char *source = readFile(argv[1]);
  if (!source)
    return 1;
  char nvvm[128];
  snprintf(nvvm, sizeof(nvvm), "builtin.module(moe-lower-to-nvvm{format=%s})",
           argc == 3 ? argv[2] : "isa");

  MlirDialectRegistry registry = mlirDialectRegistryCreate();
  mlirMoERegisterAllDialects(registry);
  MlirContext ctx = mlirContextCreateWithRegistry(registry, false);
  mlirDialectRegistryDestroy(registry);
  mlirMoERegisterPasses();

  MlirModule module =
      mlirModuleCreateParse(ctx, mlirStringRefCreateFromCString(source));
  free(source);
  if (mlirModuleIsNull(module))
    return 1;

  int failed =
      runAndPrint(ctx, module, "fused",
                  "builtin.module(func.func(moe-fuse-routing))") ||
      runAndPrint(ctx, module, "cpu", "builtin.module(moe-lower-to-cpu)") ||
      runAndPrint(ctx, module, "nvvm", nvvm);

  mlirModuleDestroy(module);
  mlirContextDestroy(ctx);
  return failed;
}

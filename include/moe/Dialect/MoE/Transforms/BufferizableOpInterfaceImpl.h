//===- BufferizableOpInterfaceImpl.h - moe bufferization --------*- C++ -*-===//
#ifndef MOE_DIALECT_MOE_TRANSFORMS_BUFFERIZABLEOPINTERFACEIMPL_H
#define MOE_DIALECT_MOE_TRANSFORMS_BUFFERIZABLEOPINTERFACEIMPL_H

namespace mlir {
class DialectRegistry;
namespace moe {

/// Attaches BufferizableOpInterface to every tensor-level moe op: each
/// bufferizes into its `moe.buffer.*` form, writing into new allocations.
void registerBufferizableOpInterfaceExternalModels(DialectRegistry &registry);

} // namespace moe
} // namespace mlir

#endif // MOE_DIALECT_MOE_TRANSFORMS_BUFFERIZABLEOPINTERFACEIMPL_H

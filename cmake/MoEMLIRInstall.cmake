# Install rules and the CMake package of moe-mlir (find_package(MoEMLIR)).
# Included by the top-level CMakeLists.txt after every target is defined.
#
# Libraries made with add_mlir_library install themselves (AddMLIR.cmake's
# add_mlir_library_install) into lib/ and add themselves to the export set
# that LLVM's get_target_export_arg names for project "MLIR": `MLIRTargets`.
# That set is only the build's bookkeeping (MLIR's own installed
# MLIRTargets.cmake is not involved); it is written out here as
# MoEMLIRTargets.cmake with the namespace MoEMLIR::. The targets that are not
# add_mlir_library ones (moe-opt, the plugin, the runtime libraries) join the
# same set, so that one export file has them all.

include(CMakePackageConfigHelpers)
include(GNUInstallDirs)

set(MOE_MLIR_INSTALL_LIBDIR "lib${LLVM_LIBDIR_SUFFIX}")
set(MOE_MLIR_INSTALL_INCLUDEDIR "include")
set(MOE_MLIR_INSTALL_PACKAGEDIR "${MOE_MLIR_INSTALL_LIBDIR}/cmake/MoEMLIR")
set(MOE_MLIR_EXPORT_SET MLIRTargets)

# Headers: the sources (with the .td files, for downstream TableGen) and the
# generated .inc files of the build tree.
install(DIRECTORY
    ${PROJECT_SOURCE_DIR}/include/moe
    ${PROJECT_SOURCE_DIR}/include/moe-c
  DESTINATION ${MOE_MLIR_INSTALL_INCLUDEDIR}
  COMPONENT moe-headers
  FILES_MATCHING
  PATTERN "*.h"
  PATTERN "*.td")
install(DIRECTORY ${PROJECT_BINARY_DIR}/include/moe
  DESTINATION ${MOE_MLIR_INSTALL_INCLUDEDIR}
  COMPONENT moe-headers
  FILES_MATCHING
  PATTERN "*.inc"
  PATTERN "CMakeFiles" EXCLUDE)

# Consumers of the exported libraries get the installed include directory.
get_property(_moe_mlir_exports GLOBAL PROPERTY MLIR_EXPORTS)
foreach(_target ${_moe_mlir_exports})
  get_target_property(_type ${_target} TYPE)
  if(_type STREQUAL "STATIC_LIBRARY" OR _type STREQUAL "SHARED_LIBRARY")
    target_include_directories(${_target} INTERFACE
      $<INSTALL_INTERFACE:${MOE_MLIR_INSTALL_INCLUDEDIR}>)
  endif()
endforeach()

# Installed binaries find libMLIR.so / libLLVM.so where this build found them
# (Debian installs them outside the default search path). The same run path
# serves the build tree (bin/ and lib/ side by side there too); using it for
# the build as well spares CMake from padding the build-tree run path with an
# empty entry (the current directory) to make room for the install one.
set(_moe_mlir_install_rpath "\$ORIGIN/../${MOE_MLIR_INSTALL_LIBDIR}"
                            "${LLVM_LIBRARY_DIR}")

install(TARGETS moe-opt
  EXPORT ${MOE_MLIR_EXPORT_SET}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  COMPONENT moe-opt)
set_target_properties(moe-opt PROPERTIES
  INSTALL_RPATH "${_moe_mlir_install_rpath}"
  BUILD_WITH_INSTALL_RPATH ON)

install(TARGETS MoEPlugin
  EXPORT ${MOE_MLIR_EXPORT_SET}
  LIBRARY DESTINATION ${MOE_MLIR_INSTALL_LIBDIR}
  COMPONENT MoEPlugin)
set_target_properties(MoEPlugin MoECAPI PROPERTIES
  INSTALL_RPATH "${_moe_mlir_install_rpath}"
  BUILD_WITH_INSTALL_RPATH ON)

# The runtime libraries of lowered programs (lib/Runtime): moe_cuda_runtime
# exists only where CUDA was found. They keep their own (empty) run paths:
# libcuda.so.1 must come from the system.
foreach(_target moe_cuda_runtime moe_gpu_emulator moe_runner_utils)
  if(TARGET ${_target})
    install(TARGETS ${_target}
      EXPORT ${MOE_MLIR_EXPORT_SET}
      LIBRARY DESTINATION ${MOE_MLIR_INSTALL_LIBDIR}
      COMPONENT ${_target})
  endif()
endforeach()

install(EXPORT ${MOE_MLIR_EXPORT_SET}
  NAMESPACE MoEMLIR::
  FILE MoEMLIRTargets.cmake
  DESTINATION ${MOE_MLIR_INSTALL_PACKAGEDIR}
  COMPONENT moe-cmake-exports)

# Generated outside build/lib/cmake, where find_package could take them for
# a package of the build tree (there is none: install first).
set(_moe_mlir_config_dir ${PROJECT_BINARY_DIR}/cmake/install)
configure_package_config_file(
  ${CMAKE_CURRENT_LIST_DIR}/MoEMLIRConfig.cmake.in
  ${_moe_mlir_config_dir}/MoEMLIRConfig.cmake
  INSTALL_DESTINATION ${MOE_MLIR_INSTALL_PACKAGEDIR}
  PATH_VARS MOE_MLIR_INSTALL_INCLUDEDIR MOE_MLIR_INSTALL_LIBDIR)
write_basic_package_version_file(
  ${_moe_mlir_config_dir}/MoEMLIRConfigVersion.cmake
  VERSION ${MOE_MLIR_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
    ${_moe_mlir_config_dir}/MoEMLIRConfig.cmake
    ${_moe_mlir_config_dir}/MoEMLIRConfigVersion.cmake
  DESTINATION ${MOE_MLIR_INSTALL_PACKAGEDIR}
  COMPONENT moe-cmake-exports)

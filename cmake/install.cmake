# install.cmake — what `make install PREFIX=...` (cmake --install) and the wheel (pyproject.toml) install.
#
#   Runtime:      lib/libvlmtune.so (+ its versioned names), bin/vlmtune
#   Development:  include/vlmtune.h, lib/libvlmtune.a, lib/pkgconfig/vlmtune.pc, lib/cmake/vlmtune/
#
# libmlx.so stays where the mlx wheel put it (<site-packages>/mlx/lib).  The installed library and command
# find it through their run path: when they are installed inside the same site-packages as MLX (a wheel,
# or a prefix under it) a path relative to themselves ($ORIGIN/...), else the absolute directory this
# build was configured with.  The system C libraries are found by the loader as usual.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

if(SKBUILD)  # the wheel: everything lives in the vlmtune package (wheel.install-dir), two levels below site-packages
  set(CMAKE_INSTALL_LIBDIR lib)
  set(CMAKE_INSTALL_BINDIR bin)
endif()

if(APPLE)
  set(VT_ORIGIN "@loader_path")
else()
  set(VT_ORIGIN "$ORIGIN")
endif()

# The run path to libmlx.so for a binary installed in `dir` (relative to the prefix).
function(vt_mlx_install_rpath out dir)
  if(SKBUILD)
    set(${out} "${VT_ORIGIN}/../../mlx/lib" PARENT_SCOPE)  # <site-packages>/vlmtune/{lib,bin} -> mlx/lib
    return()
  endif()
  get_filename_component(site "${VT_MLX_LIBDIR}/../.." ABSOLUTE)
  get_filename_component(abs "${dir}" ABSOLUTE BASE_DIR "${CMAKE_INSTALL_PREFIX}")
  cmake_path(IS_PREFIX site "${abs}" NORMALIZE inside)
  if(inside)
    file(RELATIVE_PATH rel "${abs}" "${VT_MLX_LIBDIR}")
    set(${out} "${VT_ORIGIN}/${rel}" PARENT_SCOPE)
  else()
    set(${out} "${VT_MLX_LIBDIR}" PARENT_SCOPE)
  endif()
endfunction()

vt_mlx_install_rpath(VT_LIB_RPATH "${CMAKE_INSTALL_LIBDIR}")
vt_mlx_install_rpath(VT_BIN_RPATH "${CMAKE_INSTALL_BINDIR}")
set_target_properties(vlmtune_shared PROPERTIES INSTALL_RPATH "${VT_LIB_RPATH}")
set_target_properties(vlmtune_cli PROPERTIES INSTALL_RPATH "${VT_BIN_RPATH}")

install(TARGETS vlmtune_shared EXPORT vlmtuneTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Runtime NAMELINK_COMPONENT Development
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS vlmtune_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT Runtime)
install(TARGETS vlmtune EXPORT vlmtuneStaticTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Development)
install(FILES include/vlmtune.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT Development)

# pkg-config: prefix relative to the .pc file; a run path to libdir unless the linker searches it anyway.
file(RELATIVE_PATH VT_PC_PREFIX_FROM_PCDIR "${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig" "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "/$" "" VT_PC_PREFIX_FROM_PCDIR "${VT_PC_PREFIX_FROM_PCDIR}")
if(VT_PC_PREFIX_FROM_PCDIR STREQUAL "")
  set(VT_PC_PREFIX_FROM_PCDIR ".")
endif()
set(VT_PC_LIBS_RPATH "")
if(NOT CMAKE_INSTALL_FULL_LIBDIR IN_LIST CMAKE_C_IMPLICIT_LINK_DIRECTORIES)
  set(VT_PC_LIBS_RPATH " -Wl,-rpath,\${libdir}")
endif()
# The system C libraries go to Libs.private as plain -l flags, not to Requires.private: pkg-config would
# then want their -dev packages (.pc files) for --cflags too, although vlmtune.h includes none of them.
list(JOIN VT_PC_MODULES " " VT_PC_MODULES_SPACED)
list(TRANSFORM VT_DEPS_LIBRARIES PREPEND "-l" OUTPUT_VARIABLE VT_PC_SYSTEM_LIBS)
list(JOIN VT_PC_SYSTEM_LIBS " " VT_PC_SYSTEM_LIBS)
configure_file(cmake/vlmtune.pc.in vlmtune.pc @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/vlmtune.pc" DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT Development)

# CMake: find_package(vlmtune) gives vlmtune::vlmtune (shared); COMPONENTS static adds vlmtune::vlmtune_static.
get_filename_component(VT_MLX_CMAKE_DIR "${MLX_DIR}" ABSOLUTE)
set(VT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/vlmtune)
configure_package_config_file(cmake/vlmtuneConfig.cmake.in vlmtuneConfig.cmake INSTALL_DESTINATION ${VT_CMAKE_DIR})
write_basic_package_version_file(vlmtuneConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(EXPORT vlmtuneTargets NAMESPACE vlmtune:: DESTINATION ${VT_CMAKE_DIR} COMPONENT Development)
install(EXPORT vlmtuneStaticTargets NAMESPACE vlmtune:: DESTINATION ${VT_CMAKE_DIR} COMPONENT Development)
install(FILES "${PROJECT_BINARY_DIR}/vlmtuneConfig.cmake" "${PROJECT_BINARY_DIR}/vlmtuneConfigVersion.cmake"
  DESTINATION ${VT_CMAKE_DIR} COMPONENT Development)

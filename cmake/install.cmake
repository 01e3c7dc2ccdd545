# `cmake --install BUILD --prefix P`: one include root for users
# (<genesys.cuh>, <genesys/abi.h>, <genesys/runtime.h>, ...), the static and
# (GSYS_SHARED, the default; cmake/shared.cmake) shared libraries, the
# genesys CLI, the docs, a CMake package and pkg-config files:
#
#   P/include/genesys.cuh, P/include/genesys/*.h, P/include/genesys/sim/*.h
#   P/lib/libgenesys.a (runtime), libgenesys_sim.a, libgenesys_cuda.a (nvcc builds)
#   P/lib/libgenesys.so, libgenesys_sim.so, libgenesys_cuda.so: the same
#          libraries shared, SONAME lib<x>.so.<major>.<minor> (libgenesys.so.0.1),
#          without RPATH (their dependencies are system libraries)
#   P/lib/cmake/genesys/   find_package(genesys): genesys::device, genesys::runtime,
#                          genesys::sim, genesys::runtime_cuda (static), their
#                          shared twins genesys::runtime_shared, genesys::sim_shared,
#                          genesys::runtime_cuda_shared, gsys_device_program()
#                          (SHARED/STATIC; BUILD_SHARED_LIBS picks the default)
#   P/lib/pkgconfig/genesys.pc (g++, simulator), genesys-cuda.pc (nvcc, GPU):
#          `--libs` links the shared libraries (-lgenesys finds the .so);
#          `--static --libs` adds the private dependencies an archive link
#          needs: -Wl,-Bstatic $(pkg-config --static --libs genesys) -Wl,-Bdynamic
#          (nvcc: the archive by path, README "Use it in your project")
#   P/bin/genesys (linked statically against the runtime: no RPATH needed),
#   P/share/doc/genesys/ (README.md, docs/, kmod/README.md)
#
# Relocatable: the package finds its prefix from its own place, the .pc files
# from ${pcfiledir}, and nothing installed carries a build or install path.
#
# Nothing private: libgenesys's own headers and include/genesys/ring_exec.h
# (the executor's half of the protocol) stay in the tree.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(GSYS_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/genesys)

install(FILES include/genesys/abi.h include/genesys/ops.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/genesys)
install(FILES device/genesys.cuh DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY device/genesys/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/genesys FILES_MATCHING PATTERN "*.h")
install(FILES libgenesys/include/genesys/runtime.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/genesys)

target_include_directories(genesys_abi INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
set_target_properties(genesys_abi PROPERTIES EXPORT_NAME abi)
set_target_properties(genesys_numa PROPERTIES EXPORT_NAME numa)
set_target_properties(genesys_device PROPERTIES EXPORT_NAME device)
set_target_properties(genesys PROPERTIES EXPORT_NAME runtime)
set_target_properties(genesys_sim PROPERTIES EXPORT_NAME sim)
set(GSYS_INSTALL_LIBS genesys genesys_sim)
if(GSYS_SHARED)
  set_target_properties(genesys_shared PROPERTIES EXPORT_NAME runtime_shared)
  set_target_properties(genesys_sim_shared PROPERTIES EXPORT_NAME sim_shared)
  list(APPEND GSYS_INSTALL_LIBS genesys_shared genesys_sim_shared)
endif()

install(TARGETS genesys_abi genesys_numa genesys_device ${GSYS_INSTALL_LIBS}
        EXPORT genesysTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT genesysTargets NAMESPACE genesys:: DESTINATION ${GSYS_INSTALL_CMAKEDIR})
if(TARGET genesys_cuda)
  # Its own export set: a project without the CUDA toolkit still finds the rest.
  set_target_properties(genesys_cuda PROPERTIES EXPORT_NAME runtime_cuda)
  set(cuda_libs genesys_cuda)
  if(GSYS_SHARED)
    set_target_properties(genesys_cuda_shared PROPERTIES EXPORT_NAME runtime_cuda_shared)
    list(APPEND cuda_libs genesys_cuda_shared)
  endif()
  install(TARGETS ${cuda_libs} EXPORT genesysCudaTargets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT genesysCudaTargets NAMESPACE genesys:: DESTINATION ${GSYS_INSTALL_CMAKEDIR})
endif()

install(TARGETS genesys-cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# Laid out as in the tree, so the README's links to docs/ and kmod/ hold.
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs FILES_MATCHING PATTERN "*.md")
install(FILES kmod/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR}/kmod)

# The libraries' pkg-config dependencies (PkgConfig::<X> from
# pkg_check_modules(<X> ... IMPORTED_TARGET <module>)), read from the targets
# so the package and the .pc files follow whatever the libraries link:
# GSYS_PKG_DEPS "<X>=<module>;..." for the CMake package, GSYS_PC_REQUIRES
# for the .pc files.
set(GSYS_PKG_DEPS)
set(GSYS_PC_REQUIRES)
foreach(t genesys genesys_sim genesys_cuda)
  if(TARGET ${t})
    get_target_property(libs ${t} LINK_LIBRARIES)
    foreach(l IN LISTS libs)
      if(l MATCHES "^PkgConfig::(.+)$")
        set(prefix ${CMAKE_MATCH_1})
        if(DEFINED ${prefix}_MODULE_NAME)
          list(APPEND GSYS_PKG_DEPS "${prefix}=${${prefix}_MODULE_NAME}")
          list(APPEND GSYS_PC_REQUIRES ${${prefix}_MODULE_NAME})
        else()
          message(WARNING "genesys install: ${t} links ${l}, whose pkg-config module is unknown; the package will miss it")
        endif()
      endif()
    endforeach()
  endif()
endforeach()
list(REMOVE_DUPLICATES GSYS_PKG_DEPS)
list(APPEND GSYS_PC_REQUIRES numa)
list(REMOVE_DUPLICATES GSYS_PC_REQUIRES)
string(REPLACE ";" " " GSYS_PC_REQUIRES "${GSYS_PC_REQUIRES}")
# With shared libraries `pkg-config --libs` links them, and they bring their
# own dependencies: liburing, libseccomp, libnuma and Boost.Context are only
# for `--static` (Requires.private, Libs.private).
if(GSYS_SHARED)
  set(GSYS_PC_PRIVATE .private)
  set(GSYS_PC_SIM_LIBS "")
  set(GSYS_PC_SIM_LIBS_PRIVATE -lboost_context)
else()
  set(GSYS_PC_PRIVATE "")
  set(GSYS_PC_SIM_LIBS "-lboost_context ")
  set(GSYS_PC_SIM_LIBS_PRIVATE "")
endif()

# The CMake package.
configure_package_config_file(cmake/genesysConfig.cmake.in ${PROJECT_BINARY_DIR}/genesysConfig.cmake
                              INSTALL_DESTINATION ${GSYS_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/genesysConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/genesysConfig.cmake ${PROJECT_BINARY_DIR}/genesysConfigVersion.cmake
              cmake/device_program.cmake
        DESTINATION ${GSYS_INSTALL_CMAKEDIR})

# pkg-config: the prefix is found from the .pc file's own place, so the
# files stay right for any `cmake --install --prefix`.
file(RELATIVE_PATH GSYS_PC_PREFIX /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
string(REGEX REPLACE "/$" "" GSYS_PC_PREFIX "${GSYS_PC_PREFIX}")
configure_file(cmake/genesys.pc.in ${PROJECT_BINARY_DIR}/genesys.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/genesys.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(TARGET genesys_cuda)
  configure_file(cmake/genesys-cuda.pc.in ${PROJECT_BINARY_DIR}/genesys-cuda.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/genesys-cuda.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()

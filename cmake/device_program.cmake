# gsys_device_program(<name> SOURCES <.cu files and others> [LIBS <libs>] [SHARED|STATIC])
#
# A program whose kernels use <genesys.cuh> is built twice from the same
# sources: <name> with the C++ compiler against the SIMT simulator (always),
# and <name>-cuda with nvcc for the GPU (when the CUDA language is enabled
# and genesys was built with its CUDA runtime, genesys::runtime_cuda).
#
# The same file serves this build and projects that use an installed genesys
# (find_package(genesys) includes it), so it names the package's targets:
# genesys::runtime, genesys::sim, genesys::runtime_cuda. The -cuda program is
# compiled for the target's CUDA_ARCHITECTURES (from CMAKE_CUDA_ARCHITECTURES);
# the device library needs sm_80 or newer.
#
# STATIC links the archives (genesys::runtime, ...), SHARED the shared
# libraries (genesys::runtime_shared, ...; CMake gives the programs an RPATH
# to them); neither: SHARED when BUILD_SHARED_LIBS is on and genesys has
# shared libraries, else STATIC.
function(gsys_device_program name)
  cmake_parse_arguments(P "SHARED;STATIC" "" "SOURCES;LIBS" ${ARGN})
  if(P_SHARED AND P_STATIC)
    message(FATAL_ERROR "gsys_device_program(${name}): SHARED or STATIC, not both")
  endif()
  set(suffix "")
  if(P_SHARED OR (BUILD_SHARED_LIBS AND NOT P_STATIC AND TARGET genesys::runtime_shared))
    if(NOT TARGET genesys::runtime_shared OR NOT TARGET genesys::sim_shared)
      message(FATAL_ERROR "gsys_device_program(${name}): SHARED, but genesys has no shared libraries "
                          "(it was built with GSYS_SHARED=OFF)")
    endif()
    set(suffix _shared)
  endif()
  add_executable(${name} ${P_SOURCES})
  foreach(s IN LISTS P_SOURCES)
    if(s MATCHES "\\.cu$")
      set_source_files_properties(${s} TARGET_DIRECTORY ${name} PROPERTIES LANGUAGE CXX)
    endif()
  endforeach()
  target_link_libraries(${name} PRIVATE genesys::runtime${suffix} genesys::sim${suffix} ${P_LIBS})

  get_property(languages GLOBAL PROPERTY ENABLED_LANGUAGES)
  if(TARGET genesys::runtime_cuda${suffix} AND CUDA IN_LIST languages)
    set(cuda_srcs)
    set(cuda_dirs ${CMAKE_CURRENT_SOURCE_DIR})
    foreach(s IN LISTS P_SOURCES)
      get_filename_component(abs ${s} ABSOLUTE)
      if(s MATCHES "\\.cu$")
        # A copy, so the same file can carry LANGUAGE CUDA for this target;
        # its own folder stays on the include path for its "..." includes.
        file(RELATIVE_PATH rel ${CMAKE_CURRENT_SOURCE_DIR} ${abs})
        if(rel MATCHES "^\\.\\./")
          get_filename_component(rel ${abs} NAME)
        endif()
        set(copy ${CMAKE_CURRENT_BINARY_DIR}/cuda/${name}/${rel})
        configure_file(${abs} ${copy} COPYONLY)
        set_source_files_properties(${copy} PROPERTIES LANGUAGE CUDA)
        list(APPEND cuda_srcs ${copy})
        get_filename_component(dir ${abs} DIRECTORY)
        list(APPEND cuda_dirs ${dir})
      else()
        list(APPEND cuda_srcs ${abs})
      endif()
    endforeach()
    add_executable(${name}-cuda ${cuda_srcs})
    list(REMOVE_DUPLICATES cuda_dirs)
    target_include_directories(${name}-cuda PRIVATE ${cuda_dirs})
    target_link_libraries(${name}-cuda PRIVATE genesys::runtime_cuda${suffix} ${P_LIBS})
    if(suffix)
      # libgenesys_cuda.so uses libcudart.so: the program too, so the process
      # has one CUDA runtime.
      set_target_properties(${name}-cuda PROPERTIES CUDA_RUNTIME_LIBRARY Shared)
    endif()
    target_compile_options(${name}-cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -Xcompiler=-Wno-unused-parameter>)
    # C++20 in device code; CMake 3.25 does not know nvcc 13's flag for it.
    if(CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
      set_target_properties(${name}-cuda PROPERTIES CUDA_STANDARD 20 CUDA_STANDARD_REQUIRED ON)
    else()
      target_compile_options(${name}-cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20>)
    endif()
    # Warp reductions (__reduce_or_sync) need sm_80: fail here, not in nvcc.
    get_target_property(archs ${name}-cuda CUDA_ARCHITECTURES)
    foreach(a IN LISTS archs)
      if(a MATCHES "^([0-9]+)" AND CMAKE_MATCH_1 LESS 80)
        message(FATAL_ERROR "gsys_device_program(${name}): CUDA architecture ${a} is too old; "
                            "genesys needs sm_80 or newer (set CMAKE_CUDA_ARCHITECTURES, e.g. 90 for H100/H200)")
      endif()
    endforeach()
  endif()
endfunction()

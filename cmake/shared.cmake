# Static and shared genesys libraries from one compile.
#
# GSYS_SHARED (default ON): every installed library is built twice over the
# same object files: <name> (lib<name>.a, what the tests, examples, benchmarks
# and the CLI link, and genesys::<x> in the package) and <name>_shared
# (lib<name>.so.<major>.<minor>, genesys::<x>_shared). The objects are
# position-independent (-fPIC) and compiled with -fno-semantic-interposition,
# so calls inside the library bind locally as they did in the PIE objects of
# a static-only build. GSYS_SHARED=OFF: the static libraries alone.
#
# The SONAME carries major.minor (libgenesys.so.0.1): before 1.0 a minor
# release may change the ABI, as find_package's SameMinorVersion says.
include_guard(GLOBAL)

option(GSYS_SHARED "Also build and install shared libraries (libgenesys.so, libgenesys_sim.so, libgenesys_cuda.so)" ON)

# gsys_add_library(<name> <sources>...): the STATIC library <name> and, with
# GSYS_SHARED, <name>_objects (OBJECT, PIC) feeding it and the SHARED library
# <name>_shared (OUTPUT_NAME <name>). Sets GSYS_LIBRARY_TARGETS in the
# caller: every target the caller's compile and link settings must go on
# (target_include_directories, target_link_libraries, ... on each; PUBLIC
# settings on the object library reach only the object files).
function(gsys_add_library name)
  if(GSYS_SHARED)
    add_library(${name}_objects OBJECT ${ARGN})
    set_target_properties(${name}_objects PROPERTIES POSITION_INDEPENDENT_CODE ON)
    target_compile_options(${name}_objects PRIVATE $<$<COMPILE_LANGUAGE:CXX,C>:-fno-semantic-interposition>)
    add_library(${name} STATIC $<TARGET_OBJECTS:${name}_objects>)
    add_library(${name}_shared SHARED $<TARGET_OBJECTS:${name}_objects>)
    set_target_properties(${name}_shared PROPERTIES OUTPUT_NAME ${name}
                          VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
    # Every symbol the library uses is resolved by what it links: a missing
    # dependency fails here, not in a consumer's link or at load time.
    target_link_options(${name}_shared PRIVATE LINKER:--no-undefined)
    set(GSYS_LIBRARY_TARGETS ${name}_objects ${name} ${name}_shared PARENT_SCOPE)
  else()
    add_library(${name} STATIC ${ARGN})
    set(GSYS_LIBRARY_TARGETS ${name} PARENT_SCOPE)
  endif()
endfunction()

# Included by tests/CMakeLists.txt: the libFuzzer harnesses in make build
# and make test. The main build uses g++, which has no libFuzzer, so the
# harnesses are a clang project of their own (tests/fuzz/CMakeLists.txt),
# built into <build>/fuzz by the fuzz_harnesses target where clang++ links
# -fsanitize=fuzzer. fuzz_smoke replays tests/fuzz/crashes/ and fuzzes each
# harness briefly (tests/fuzz/run.sh --smoke: 10 s each); without clang or
# its libFuzzer runtime it skips, saying why.
find_program(GSYS_FUZZ_CXX NAMES clang++ clang++-16 clang++-15 clang++-14)
set(GSYS_FUZZ_OK OFF)
if(GSYS_FUZZ_CXX)
  set(probe ${CMAKE_CURRENT_BINARY_DIR}/fuzz-probe)
  file(WRITE ${probe}/p.cpp "extern \"C\" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n")
  execute_process(COMMAND ${GSYS_FUZZ_CXX} -fsanitize=fuzzer,address,undefined p.cpp -o p
                  WORKING_DIRECTORY ${probe} RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(rc EQUAL 0)
    set(GSYS_FUZZ_OK ON)
  endif()
endif()
set(env)
if(GSYS_FUZZ_OK)
  message(STATUS "genesys: fuzz harnesses with ${GSYS_FUZZ_CXX} (libFuzzer) in ${CMAKE_BINARY_DIR}/fuzz")
  add_custom_target(fuzz_harnesses ALL
                    COMMAND ${CMAKE_COMMAND} -E env GSYS_FUZZ_CXX=${GSYS_FUZZ_CXX}
                            ${CMAKE_CURRENT_LIST_DIR}/run.sh --build-only --build ${CMAKE_BINARY_DIR}/fuzz
                    COMMENT "Building the libFuzzer harnesses (clang) in ${CMAKE_BINARY_DIR}/fuzz")
  set(env ENVIRONMENT "GSYS_FUZZ_CXX=${GSYS_FUZZ_CXX}")
else()
  message(STATUS "genesys: no clang++ linking -fsanitize=fuzzer: fuzz_smoke will skip")
endif()
add_test(NAME fuzz_smoke COMMAND ${CMAKE_CURRENT_LIST_DIR}/run.sh --smoke --build ${CMAKE_BINARY_DIR}/fuzz)
set_tests_properties(fuzz_smoke PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS fuzz ${env})

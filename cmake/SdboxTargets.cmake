# Settings every SD-Box target shares: warnings as errors on our own code, sanitizers on demand.

if(SDBOX_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  # A position-independent sanitized program carries about a million relative relocations (the
  # sanitizers' metadata) that the loader applies at every start: -no-pie halves the start-up of
  # the programs the tests run hundreds of times (sdboxctl: 0.22 s to 0.12 s).
  add_link_options(-no-pie)
endif()

function(sdbox_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
    -Wno-sign-conversion -Werror)
  # In a unity build every .cc is #included by a generated file, so g++ treats it as a header and
  # warns about any class of its own that holds a type from its anonymous namespace (or a
  # coroutine frame that does): right for real headers, meaningless here. The tidy and fuzz
  # presets build file by file, with the warning on.
  if(CMAKE_UNITY_BUILD AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wno-subobject-linkage)
  endif()
endfunction()

# A libFuzzer target. In the default build it is linked with a small driver that replays a corpus
# directory, and ctest replays the seed corpus so every parser's seeds run on every test run.
function(sdbox_fuzz_target name)
  cmake_parse_arguments(FUZZ "" "CORPUS" "SOURCES;LIBRARIES" ${ARGN})
  add_executable(${name} ${FUZZ_SOURCES})
  sdbox_defaults(${name})
  target_link_libraries(${name} PRIVATE ${FUZZ_LIBRARIES})
  if(SDBOX_FUZZ)
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  else()
    target_link_libraries(${name} PRIVATE sdbox_fuzz_replay)
  endif()
  add_test(NAME fuzz.${name}.corpus COMMAND ${name} ${FUZZ_CORPUS})
  set_tests_properties(fuzz.${name}.corpus PROPERTIES LABELS "fuzz")
endfunction()

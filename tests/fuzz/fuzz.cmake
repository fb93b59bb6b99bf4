# SPDX-License-Identifier: GPL-2.0-or-later
# Fuzz targets (tests/fuzz/fuzz_*.c, libFuzzer's LLVMFuzzerTestOneInput):
# Targets: wire (peer frames + advert validation), config (config file
# text), ctl (control socket requests, through a real ctl_server), cni (the
# CNI plugin's config on stdin, src/cni.c).
#   - with NSAGENT_FUZZ=ON and clang: real libFuzzer binaries with ASan and
#     UBSan (tests/fuzz/run.sh builds them in build-fuzz/ and runs each for
#     NSAGENT_FUZZ_TIME seconds);
#   - in every build: a replay of the seed corpus and of every past crash
#     (tests/fuzz/regressions/<target>/) as a unit test.
set(FUZZ_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
# Every target links nsagent_core and nsagent_cni (static archives: each
# gets the parser it drives and what that calls).
foreach(t wire config ctl cni)
  add_executable(replay_${t} ${FUZZ_DIR}/replay.c ${FUZZ_DIR}/fuzz_${t}.c)
  target_link_libraries(replay_${t} PRIVATE nsagent_core nsagent_cni)
  add_test(NAME fuzz_replay_${t} COMMAND replay_${t} ${FUZZ_DIR}/corpus/fuzz_${t}
    ${FUZZ_DIR}/regressions/fuzz_${t})
  set_tests_properties(fuzz_replay_${t} PROPERTIES LABELS unit)
endforeach()

if(NSAGENT_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "NSAGENT_FUZZ needs clang (-DCMAKE_C_COMPILER=clang)")
  endif()
  foreach(t wire config ctl cni)
    add_executable(fuzz_${t} ${FUZZ_DIR}/fuzz_${t}.c)
    target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(fuzz_${t} PRIVATE nsagent_core nsagent_cni)
  endforeach()
endif()

# A bounded libFuzzer run of every target in the suite (label fuzz): 60 s
# each in CI (CI set in the environment when the build is configured),
# 10 s each elsewhere; NSAGENT_FUZZ_TIME at configure time overrides both.
find_program(CLANG_FOR_FUZZ clang)
if(DEFINED ENV{NSAGENT_FUZZ_TIME})
  set(FUZZ_SUITE_TIME $ENV{NSAGENT_FUZZ_TIME})
elseif(DEFINED ENV{CI})
  set(FUZZ_SUITE_TIME 60)
else()
  set(FUZZ_SUITE_TIME 10)
endif()
if(CLANG_FOR_FUZZ AND NOT NSAGENT_FUZZ)
  add_test(NAME fuzz_short COMMAND ${FUZZ_DIR}/run.sh)
  set_tests_properties(fuzz_short PROPERTIES LABELS fuzz TIMEOUT 900
    ENVIRONMENT "NSAGENT_FUZZ_TIME=${FUZZ_SUITE_TIME};NSAGENT_FUZZ_BUILD_DIR=${CMAKE_BINARY_DIR}/fuzz-build")
endif()

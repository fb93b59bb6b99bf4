# Every benchmark runs once at a tiny size with the suite (label "bench"),
# so that none of them rots. They check behaviour (objects built, repairs
# made, the agent alive and free of sanitizer reports) and print their
# figures, but never judge speed: figures from a sanitizer build on a
# loaded machine mean nothing. Real figures: see tests/bench/README.md.
function(nsa_bench name)
  add_test(NAME bench_${name}
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/bench/bench_${name}.sh ${ARGN})
  set_tests_properties(bench_${name} PROPERTIES LABELS bench TIMEOUT 120
    ENVIRONMENT "NSAGENT=$<TARGET_FILE:nsagent>;NSAGENT_SOURCE_DIR=${CMAKE_SOURCE_DIR};NSAGENT_BUILD_DIR=${CMAKE_BINARY_DIR}")
endfunction()

nsa_bench(bringup --runs 1 2)
nsa_bench(repair --runs 1)
nsa_bench(footprint 1)

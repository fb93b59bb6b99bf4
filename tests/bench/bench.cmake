# SPDX-License-Identifier: GPL-2.0-or-later
# Every benchmark runs once at a tiny size with the suite (label "bench"),
# so that none of them rots. They check behaviour (objects built, repairs
# made, meshes closed, the agent alive and free of sanitizer reports) and
# print their figures, but never judge speed: figures from a sanitizer
# build on a loaded machine mean nothing. Real figures: see
# tests/bench/README.md.
# nsa_bench(TEST SCRIPT ARGS...): test bench_TEST runs bench_SCRIPT.sh ARGS.
function(nsa_bench name script)
  add_test(NAME bench_${name}
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/bench/bench_${script}.sh ${ARGN})
  set_tests_properties(bench_${name} PROPERTIES LABELS bench TIMEOUT 180
    ENVIRONMENT "NSAGENT=$<TARGET_FILE:nsagent>;NSAGENT_CNI=$<TARGET_FILE:nsagent-cni>;NSAGENT_SOURCE_DIR=${CMAKE_SOURCE_DIR};NSAGENT_BUILD_DIR=${CMAKE_BINARY_DIR}")
endfunction()

nsa_bench(bringup bringup --runs 1 2)
nsa_bench(repair repair --runs 1)
nsa_bench(footprint footprint 1)
nsa_bench(footprint_peers footprint --hosts 3 1)
nsa_bench(converge converge --runs 1 2 3)
nsa_bench(failure failure --runs 1)
nsa_bench(datapath datapath --runs 1 --seconds 1)
nsa_bench(scale scale --runs 1 4)
# the cluster key and the before/after pairing (the same binary twice)
nsa_bench(scale_key scale --runs 1 --key --before $<TARGET_FILE:nsagent> 3)
nsa_bench(cni cni --runs 1 1 4)
# both routing modes at N=3 (real BIRD), the mesh's dead node after 3 s + 3 s
nsa_bench(bgp bgp --runs 1 --restart-time 3s 3)

# What one TLS session costs (src/tls.c alone, no lab): CPU per handshake
# and memory per idle session; run by hand for figures, at K=4 in the
# suite so that it keeps building and working.
add_executable(bench_tls_sessions ${CMAKE_CURRENT_SOURCE_DIR}/bench/tls_sessions.c)
target_link_libraries(bench_tls_sessions PRIVATE nsagent_core)
add_test(NAME bench_tls_sessions COMMAND bench_tls_sessions 4)
set_tests_properties(bench_tls_sessions PROPERTIES LABELS bench TIMEOUT 60)

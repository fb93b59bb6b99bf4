# SPDX-License-Identifier: GPL-2.0-or-later
# The unit tests, one cmocka program per module (test_MODULE.c), each
# linked against nsagent_core (see nsa_unit in tests/CMakeLists.txt).
foreach(module addr addr6 backend backoff bird claim cni_ops config frame log metrics nodeaddr notify nsalloc pidfile probe rde
    rib
    state status wggenl wgkey wguapi wire)
  nsa_unit(test_${module})
endforeach()

# Real TCP listeners on 127.0.0.1 and a lowered RLIMIT_NOFILE of this test
# process only: no namespace or machine state changes.
nsa_unit(test_listen)

# Sessions over loopback TCP (127.0.0.x, kernel-chosen ports): no namespace
# or route changes, so they run as plain unit tests. test_peer_sec: hostile
# input (cluster key, hijacking adverts, malformed frames, floods,
# peer-list poisoning).
nsa_unit(test_peer SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/peer_harness.c
  ${CMAKE_CURRENT_SOURCE_DIR}/unit/tls_harness.c)
nsa_unit(test_peer_sec SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/peer_harness.c
  ${CMAKE_CURRENT_SOURCE_DIR}/unit/tls_harness.c)
set_tests_properties(test_peer test_peer_sec PROPERTIES TIMEOUT 120)

# TLS handshakes against ends built with plain OpenSSL.
nsa_unit(test_tls SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/tls_harness.c)

# The CNI plugin's logic (nsagent_cni) and the nsagent-cni binary itself,
# run against a fake control socket in a temporary directory.
nsa_unit(test_cni LIBS nsagent_cni Threads::Threads)
add_dependencies(test_cni nsagent-cni)
set_tests_properties(test_cni PROPERTIES ENVIRONMENT
  "NSAGENT_SOURCE_DIR=${CMAKE_SOURCE_DIR};NSAGENT_CNI=$<TARGET_FILE:nsagent-cni>")

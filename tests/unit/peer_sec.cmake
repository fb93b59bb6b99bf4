# Hostile input against sessions over loopback: cluster key, hijacking
# adverts, malformed frames, floods, peer-list poisoning.
nsa_unit(test_peer_sec SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/peer_harness.c
  ${CMAKE_SOURCE_DIR}/tests/unit/tls_harness.c
  ${CMAKE_SOURCE_DIR}/src/peer.c ${CMAKE_SOURCE_DIR}/src/rib.c
  ${CMAKE_SOURCE_DIR}/src/claim.c ${CMAKE_SOURCE_DIR}/src/backoff.c
  ${CMAKE_SOURCE_DIR}/src/listen.c ${CMAKE_SOURCE_DIR}/src/status.c
  ${CMAKE_SOURCE_DIR}/src/wire.c ${CMAKE_SOURCE_DIR}/src/frame.c ${CMAKE_SOURCE_DIR}/src/backend.c
  ${CMAKE_SOURCE_DIR}/src/state.c ${CMAKE_SOURCE_DIR}/src/persist.c ${CMAKE_SOURCE_DIR}/src/tls.c
  ${CMAKE_SOURCE_DIR}/src/addr.c ${CMAKE_SOURCE_DIR}/src/log.c ${CMAKE_SOURCE_DIR}/src/xalloc.c
  LIBS nsagent_proto PkgConfig::LIBEVENT PkgConfig::JSONC PkgConfig::OPENSSL)
set_tests_properties(test_peer_sec PROPERTIES TIMEOUT 120)

# Sessions over loopback TCP (127.0.0.x, kernel-chosen ports): no namespace
# or route changes, so it runs as a plain unit test.
nsa_unit(test_peer SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/peer_harness.c
  ${CMAKE_SOURCE_DIR}/src/peer.c ${CMAKE_SOURCE_DIR}/src/rib.c
  ${CMAKE_SOURCE_DIR}/src/backend.c
  ${CMAKE_SOURCE_DIR}/src/claim.c ${CMAKE_SOURCE_DIR}/src/backoff.c
  ${CMAKE_SOURCE_DIR}/src/listen.c ${CMAKE_SOURCE_DIR}/src/status.c
  ${CMAKE_SOURCE_DIR}/src/wire.c ${CMAKE_SOURCE_DIR}/src/frame.c ${CMAKE_SOURCE_DIR}/src/state.c
  ${CMAKE_SOURCE_DIR}/src/persist.c
  ${CMAKE_SOURCE_DIR}/src/tls.c
  ${CMAKE_SOURCE_DIR}/src/addr.c ${CMAKE_SOURCE_DIR}/src/log.c ${CMAKE_SOURCE_DIR}/src/xalloc.c
  LIBS nsagent_proto PkgConfig::LIBEVENT PkgConfig::JSONC PkgConfig::OPENSSL)
set_tests_properties(test_peer PROPERTIES TIMEOUT 120)

nsa_unit(test_tls SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/tls_harness.c
  ${CMAKE_SOURCE_DIR}/src/tls.c ${CMAKE_SOURCE_DIR}/src/xalloc.c ${CMAKE_SOURCE_DIR}/src/log.c
  LIBS PkgConfig::LIBEVENT PkgConfig::OPENSSL)

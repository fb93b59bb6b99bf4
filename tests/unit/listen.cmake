# Real TCP listeners on 127.0.0.1 and a lowered RLIMIT_NOFILE of this test
# process only: no namespace or machine state changes.
nsa_unit(test_listen
  SOURCES ${CMAKE_SOURCE_DIR}/src/listen.c ${CMAKE_SOURCE_DIR}/src/status.c
          ${CMAKE_SOURCE_DIR}/src/rib.c
          ${CMAKE_SOURCE_DIR}/src/addr.c
          ${CMAKE_SOURCE_DIR}/src/log.c ${CMAKE_SOURCE_DIR}/src/xalloc.c
  LIBS PkgConfig::LIBEVENT PkgConfig::JSONC)

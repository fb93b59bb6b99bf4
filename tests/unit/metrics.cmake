nsa_unit(test_metrics
  SOURCES ${CMAKE_SOURCE_DIR}/src/metrics.c ${CMAKE_SOURCE_DIR}/src/listen.c
          ${CMAKE_SOURCE_DIR}/src/status.c ${CMAKE_SOURCE_DIR}/src/status_prom.c
          ${CMAKE_SOURCE_DIR}/src/rib.c
          ${CMAKE_SOURCE_DIR}/src/addr.c
          ${CMAKE_SOURCE_DIR}/src/log.c ${CMAKE_SOURCE_DIR}/src/xalloc.c
  LIBS PkgConfig::LIBEVENT PkgConfig::JSONC)

nsa_unit(test_metrics
  SOURCES ${CMAKE_SOURCE_DIR}/src/metrics.c ${CMAKE_SOURCE_DIR}/src/listen.c
          ${CMAKE_SOURCE_DIR}/src/addr.c
          ${CMAKE_SOURCE_DIR}/src/log.c ${CMAKE_SOURCE_DIR}/src/xalloc.c
  LIBS PkgConfig::LIBEVENT)

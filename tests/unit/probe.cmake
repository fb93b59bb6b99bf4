nsa_unit(test_probe
  SOURCES ${CMAKE_SOURCE_DIR}/src/probe.c ${CMAKE_SOURCE_DIR}/src/addr.c
          ${CMAKE_SOURCE_DIR}/src/log.c ${CMAKE_SOURCE_DIR}/src/xalloc.c
  LIBS PkgConfig::LIBEVENT)

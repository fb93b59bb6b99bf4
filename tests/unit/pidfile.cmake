nsa_unit(test_pidfile
  SOURCES ${CMAKE_SOURCE_DIR}/src/pidfile.c ${CMAKE_SOURCE_DIR}/src/log.c
          ${CMAKE_SOURCE_DIR}/src/xalloc.c)

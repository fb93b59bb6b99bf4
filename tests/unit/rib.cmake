nsa_unit(test_rib SOURCES ${CMAKE_SOURCE_DIR}/src/rib.c ${CMAKE_SOURCE_DIR}/src/addr.c
  ${CMAKE_SOURCE_DIR}/src/log.c ${CMAKE_SOURCE_DIR}/src/xalloc.c)

nsa_unit(test_state SOURCES ${CMAKE_SOURCE_DIR}/src/state.c ${CMAKE_SOURCE_DIR}/src/persist.c
  ${CMAKE_SOURCE_DIR}/src/addr.c ${CMAKE_SOURCE_DIR}/src/log.c ${CMAKE_SOURCE_DIR}/src/xalloc.c
  LIBS PkgConfig::JSONC)

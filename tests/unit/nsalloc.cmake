nsa_unit(test_nsalloc
  SOURCES ${CMAKE_SOURCE_DIR}/src/nsalloc.c ${CMAKE_SOURCE_DIR}/src/persist.c
          ${CMAKE_SOURCE_DIR}/src/config.c
          ${CMAKE_SOURCE_DIR}/src/addr.c ${CMAKE_SOURCE_DIR}/src/log.c
          ${CMAKE_SOURCE_DIR}/src/xalloc.c
  LIBS PkgConfig::JSONC PkgConfig::INIH)

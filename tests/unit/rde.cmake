# The route decision engine with a fake clock and path lookup: no loop,
# no socket, no kernel.
nsa_unit(test_rde SOURCES ${CMAKE_SOURCE_DIR}/src/rde.c ${CMAKE_SOURCE_DIR}/src/rib.c
  ${CMAKE_SOURCE_DIR}/src/claim.c ${CMAKE_SOURCE_DIR}/src/backend.c
  ${CMAKE_SOURCE_DIR}/src/state.c ${CMAKE_SOURCE_DIR}/src/persist.c
  ${CMAKE_SOURCE_DIR}/src/addr.c ${CMAKE_SOURCE_DIR}/src/log.c ${CMAKE_SOURCE_DIR}/src/xalloc.c
  LIBS PkgConfig::JSONC)

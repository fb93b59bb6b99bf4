nsa_unit(test_wire SOURCES ${CMAKE_SOURCE_DIR}/src/wire.c ${CMAKE_SOURCE_DIR}/src/frame.c
  LIBS nsagent_proto PkgConfig::LIBEVENT)

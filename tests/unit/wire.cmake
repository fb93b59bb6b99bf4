nsa_unit(test_wire SOURCES ${CMAKE_SOURCE_DIR}/src/wire.c
  LIBS nsagent_proto PkgConfig::LIBEVENT)

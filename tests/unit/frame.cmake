nsa_unit(test_frame
  SOURCES ${CMAKE_SOURCE_DIR}/src/frame.c
  LIBS PkgConfig::LIBEVENT nsagent_proto)

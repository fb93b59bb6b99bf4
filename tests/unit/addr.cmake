nsa_unit(test_addr SOURCES ${CMAKE_SOURCE_DIR}/src/addr.c)

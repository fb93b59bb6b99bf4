nsa_unit(test_backoff SOURCES ${CMAKE_SOURCE_DIR}/src/backoff.c)

nsa_unit(test_backend SOURCES ${CMAKE_SOURCE_DIR}/src/backend.c ${CMAKE_SOURCE_DIR}/src/addr.c)

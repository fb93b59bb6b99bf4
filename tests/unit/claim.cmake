nsa_unit(test_claim SOURCES ${CMAKE_SOURCE_DIR}/src/claim.c ${CMAKE_SOURCE_DIR}/src/addr.c)

# SPDX-License-Identifier: GPL-2.0-or-later
# Drives src/kernel/nft.c against the real kernel for tests/kernel/test_nft*.sh
# (which run it only inside a throwaway network namespace).
add_executable(nft_driver ${CMAKE_CURRENT_SOURCE_DIR}/kernel/nft_driver.c)
target_include_directories(nft_driver PRIVATE ${CMAKE_SOURCE_DIR}/include
  ${CMAKE_SOURCE_DIR}/src/kernel)
target_link_libraries(nft_driver PRIVATE nsagent_kernel)

# SPDX-License-Identifier: GPL-2.0-or-later
# Test driver for the kernel layer: runs it against the real kernel inside the
# throwaway namespaces the tests/kernel/test_*.sh scripts make.
add_executable(kern_driver ${CMAKE_CURRENT_SOURCE_DIR}/kernel/kern_driver.c)
target_link_libraries(kern_driver PRIVATE nsagent_kernel)

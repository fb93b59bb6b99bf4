# SPDX-License-Identifier: GPL-2.0-or-later
# The hostile peer of the lab security tests (tests/lab/test_sec_*.sh).
add_executable(fakepeer ${CMAKE_CURRENT_SOURCE_DIR}/lab/fakepeer.c)
target_link_libraries(fakepeer PRIVATE nsagent_core)

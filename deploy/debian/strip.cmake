# SPDX-License-Identifier: GPL-2.0-or-later
# Run by cpack (CPACK_PRE_BUILD_SCRIPTS) on the staging tree before it is
# packed: every ELF file loses the .comment and .note sections, as
# dh_strip does, which CPACK_STRIP_FILES (plain strip) leaves in place and
# lintian reports (binary-has-unneeded-section).
find_program(NSAGENT_STRIP NAMES strip REQUIRED)
file(GLOB_RECURSE staged LIST_DIRECTORIES false "${CPACK_TEMPORARY_INSTALL_DIRECTORY}/*")
foreach(path ${staged})
  if(IS_SYMLINK ${path})
    continue()
  endif()
  file(READ ${path} magic LIMIT 4 HEX)
  if(magic STREQUAL "7f454c46")
    execute_process(COMMAND ${NSAGENT_STRIP} --remove-section=.comment --remove-section=.note
      --strip-unneeded ${path} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "strip ${path} failed (${rc})")
    endif()
  endif()
endforeach()

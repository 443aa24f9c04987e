# cmake -DCOMMAND=<list> -DEXPECTED_EXIT=<code> -DEXPECTED_OUTPUT=<regex> [-DUNEXPECTED_OUTPUT=<regex>]
#       [-DMUST_NOT_EXIST=<path>] -P expect_exit.cmake
# Runs COMMAND and fails unless it exits with EXPECTED_EXIT, its output (stdout and stderr) matches EXPECTED_OUTPUT
# and not UNEXPECTED_OUTPUT, and MUST_NOT_EXIST was not created: a refusal checked by its exit code too, which
# PASS_REGULAR_EXPRESSION ignores, and checked to come before any work.
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE exit_code OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(output "${out}${err}")
message("${output}")
if(NOT exit_code STREQUAL EXPECTED_EXIT)
  message(FATAL_ERROR "exit code ${exit_code}, expected ${EXPECTED_EXIT}")
endif()
if(NOT output MATCHES "${EXPECTED_OUTPUT}")
  message(FATAL_ERROR "the output does not match: ${EXPECTED_OUTPUT}")
endif()
if(DEFINED UNEXPECTED_OUTPUT AND output MATCHES "${UNEXPECTED_OUTPUT}")
  message(FATAL_ERROR "the output matches what a refusal must not print: ${UNEXPECTED_OUTPUT}")
endif()
if(DEFINED MUST_NOT_EXIST AND EXISTS "${MUST_NOT_EXIST}")
  message(FATAL_ERROR "${MUST_NOT_EXIST} was created")
endif()

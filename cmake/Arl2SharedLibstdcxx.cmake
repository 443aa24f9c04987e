# Shared libraries loaded into a Python process must use the libstdc++.so.6 that torch already loaded.
# A toolchain whose library directory holds only libstdc++.a links a private copy into the library
# instead; its iostreams then run on uninitialised locale state and the first formatted error message
# (TORCH_CHECK with a number) crashes the process. Checked after every link, so such a build fails
# at build time, naming the fix, rather than with a segfault in a test.
function(arl2_require_shared_libstdcxx target)
  add_custom_command(TARGET ${target} POST_BUILD
      COMMAND "${CMAKE_COMMAND}" -DLIBRARY=$<TARGET_FILE:${target}> -DREADELF=${CMAKE_READELF}
              -DCOMPILER=${CMAKE_CXX_COMPILER} -P "${PROJECT_SOURCE_DIR}/cmake/check_shared_libstdcxx.cmake"
      VERBATIM)
endfunction()

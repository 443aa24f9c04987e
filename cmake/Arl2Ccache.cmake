# ccache for every compiler when it is installed: a warm rebuild on the 2-core CI machine takes seconds.
# CCACHE_BASEDIR makes paths relative to the source tree, so a fresh clone elsewhere still hits the cache.
find_program(ARL2_CCACHE ccache)
if(ARL2_CCACHE)
  foreach(lang C CXX CUDA)
    set(CMAKE_${lang}_COMPILER_LAUNCHER "${CMAKE_COMMAND};-E;env;CCACHE_BASEDIR=${CMAKE_SOURCE_DIR};${ARL2_CCACHE}")
  endforeach()
endif()

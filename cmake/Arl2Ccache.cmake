# ccache for every compiler when it is installed: a warm rebuild on the 2-core CI machine takes seconds.
find_program(ARL2_CCACHE ccache)
if(ARL2_CCACHE)
  foreach(lang C CXX CUDA)
    set(CMAKE_${lang}_COMPILER_LAUNCHER "${ARL2_CCACHE}")
  endforeach()
endif()

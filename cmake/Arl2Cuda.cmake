# Resolves ARL2_CUDA (ON/OFF/AUTO) into ARL2_WITH_CUDA and enables the CUDA language.
# One architecture only (sm_90, the H200) keeps nvcc time down; override with ARL2_CUDA_ARCHITECTURES.
# It is a target property of the kernel library because Torch's config resets CMAKE_CUDA_ARCHITECTURES.
set(ARL2_WITH_CUDA OFF)
if(ARL2_CUDA STREQUAL "AUTO")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(ARL2_WITH_CUDA ON)
  endif()
elseif(ARL2_CUDA)
  set(ARL2_WITH_CUDA ON)
endif()

set(ARL2_CUDA_ARCHITECTURES "90" CACHE STRING "CUDA architectures of the kernels (CMake syntax)")
if(ARL2_WITH_CUDA)
  set(CMAKE_CUDA_ARCHITECTURES ${ARL2_CUDA_ARCHITECTURES})
  # The shared CUDA runtime, the one torch uses: CMake's default (static) would put a second, private
  # runtime inside libarl2_ops.so next to torch's.
  set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  find_package(CUDAToolkit REQUIRED)
endif()
message(STATUS "arl2: CUDA kernels ${ARL2_WITH_CUDA}")

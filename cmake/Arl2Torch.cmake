# Finds LibTorch from the Python torch package (the pip wheel carries headers and the CMake config)
# and checks that its C++ ABI is the one the system libraries use.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
if(NOT Torch_DIR)
  execute_process(
    COMMAND "${Python3_EXECUTABLE}" -c "import torch; print(torch.utils.cmake_prefix_path)"
    OUTPUT_VARIABLE _arl2_torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _arl2_rc)
  if(NOT _arl2_rc EQUAL 0)
    message(FATAL_ERROR "arl2: `${Python3_EXECUTABLE} -c 'import torch'` failed; run scripts/setup.sh "
                        "or pass -DTorch_DIR=<libtorch>/share/cmake/Torch")
  endif()
  set(Torch_DIR "${_arl2_torch_prefix}/Torch")
endif()
# Torch's config appends its own -gencode list (from sm_50, which nvcc 13 rejects) and defines to
# CMAKE_CUDA_FLAGS. Our .cu files are torch-free and built for CMAKE_CUDA_ARCHITECTURES: keep the flags.
set(_arl2_cuda_flags "${CMAKE_CUDA_FLAGS}")
find_package(Torch REQUIRED)
set(CMAKE_CUDA_FLAGS "${_arl2_cuda_flags}")

execute_process(
  COMMAND "${Python3_EXECUTABLE}" -c "import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))"
  OUTPUT_VARIABLE ARL2_TORCH_CXX11_ABI OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT ARL2_TORCH_CXX11_ABI STREQUAL "1")
  message(FATAL_ERROR "arl2: this torch uses _GLIBCXX_USE_CXX11_ABI=${ARL2_TORCH_CXX11_ABI}; yaml-cpp, fmt and "
                      "Catch2 from the system use 1. Install torch==2.11.0 from the Python package index.")
endif()
execute_process(
  COMMAND "${Python3_EXECUTABLE}" -c "import torch; print(torch.__version__)"
  OUTPUT_VARIABLE ARL2_TORCH_VERSION OUTPUT_STRIP_TRAILING_WHITESPACE)
message(STATUS "arl2: torch ${ARL2_TORCH_VERSION} from ${Torch_DIR}")

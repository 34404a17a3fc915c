# Which nvcc can build libsparsekit_cuda. The 2:4 kernel's mma.sp::ordered_metadata needs PTX ISA
# 8.5, i.e. CUDA 12.5 or newer; an older nvcc found on the way leaves the build CPU-only with a
# warning instead of failing inside the kernels. cmake/test-cuda-version.cmake tests this logic
# (ctest: cuda_version_check).
set(SPARSEKIT_MIN_CUDA_VERSION 12.5)

# The version in `nvcc --version` output ("Cuda compilation tools, release 12.4, V12.4.131"), or
# "" when the text has none.
function(sparsekit_parse_nvcc_version text out)
  if(text MATCHES "release [0-9]+\\.[0-9]+, V([0-9]+\\.[0-9]+(\\.[0-9]+)?)")
    set(${out} "${CMAKE_MATCH_1}" PARENT_SCOPE)
  elseif(text MATCHES "release ([0-9]+\\.[0-9]+)")
    set(${out} "${CMAKE_MATCH_1}" PARENT_SCOPE)
  else()
    set(${out} "" PARENT_SCOPE)
  endif()
endfunction()

# TRUE when `version` (e.g. 12.8.93) is SPARSEKIT_MIN_CUDA_VERSION or newer, FALSE otherwise
# (also for an empty or malformed version).
function(sparsekit_cuda_version_ok version out)
  if(version MATCHES "^[0-9]+\\.[0-9]+" AND NOT version VERSION_LESS SPARSEKIT_MIN_CUDA_VERSION)
    set(${out} TRUE PARENT_SCOPE)
  else()
    set(${out} FALSE PARENT_SCOPE)
  endif()
endfunction()

# The version of the nvcc at `nvcc` ("" if it does not run).
function(sparsekit_nvcc_version nvcc out)
  execute_process(COMMAND "${nvcc}" --version OUTPUT_VARIABLE text ERROR_QUIET RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    set(text "")
  endif()
  sparsekit_parse_nvcc_version("${text}" v)
  set(${out} "${v}" PARENT_SCOPE)
endfunction()

# Source lists shared by CMakeLists.txt; binding.gyp lists the same files (a test checks they agree).
set(SPARSEKIT_CORE_SOURCES
  native/core/dtype.cpp
  native/core/convert.cpp
  native/core/thread_pool.cpp
  native/core/cpu_features.cpp
  native/formats/format.cpp
  native/formats/pack.cpp
  native/formats/validate.cpp
  native/cpu/spmm.cpp
  native/cpu/spmm_portable.cpp
)
set(SPARSEKIT_ADDON_SOURCES
  native/addon/addon.cpp
)

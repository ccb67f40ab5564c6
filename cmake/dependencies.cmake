# Third-party packages, all from Debian. Headers of these are SYSTEM so -Werror covers only our code.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(Boost 1.81 REQUIRED COMPONENTS json)
find_package(OpenSSL 3 REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(doctest REQUIRED)
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)

# Debian's CAF 0.17.6 ships neither a CMake config nor a pkg-config file.
find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
find_library(CAF_CORE_LIBRARY caf_core REQUIRED)
find_library(CAF_IO_LIBRARY caf_io REQUIRED)
add_library(caf_core_lib INTERFACE)
target_include_directories(caf_core_lib SYSTEM INTERFACE ${CAF_INCLUDE_DIR})
target_link_libraries(caf_core_lib INTERFACE ${CAF_CORE_LIBRARY} ${CAF_IO_LIBRARY} Threads::Threads)
add_library(caf::core ALIAS caf_core_lib)

# The allocator that `superapp` and the benchmarks link (ADR 0024): jemalloc by default, or the
# C library's (the sanitizer presets, whose runtimes replace malloc themselves). Test binaries
# keep the C library's.
set(SUPERAPP_ALLOCATOR "jemalloc" CACHE STRING "malloc of superapp and the benchmarks: jemalloc or system")
set_property(CACHE SUPERAPP_ALLOCATOR PROPERTY STRINGS jemalloc system)
if(SUPERAPP_ALLOCATOR STREQUAL "jemalloc")
  pkg_check_modules(JEMALLOC REQUIRED IMPORTED_TARGET jemalloc)
elseif(NOT SUPERAPP_ALLOCATOR STREQUAL "system")
  message(FATAL_ERROR "SUPERAPP_ALLOCATOR must be jemalloc or system, not '${SUPERAPP_ALLOCATOR}'")
endif()

function(superapp_link_allocator target)
  if(SUPERAPP_ALLOCATOR STREQUAL "jemalloc")
    target_link_libraries(${target} PRIVATE PkgConfig::JEMALLOC)
  endif()
endfunction()

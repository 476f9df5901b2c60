# nblog symbolize (tools/symbolize.c), part of the nblog command: reads
# DWARF with elfutils libdw (and libelf), found by pkg-config; with
# libdebuginfod when there is one. Without libdw the subcommand is still
# there and says it cannot work (the library never links libdw: only the
# command does). Included by the top CMakeLists.txt after nblog_tool.
target_sources(nblog_tool PRIVATE ${CMAKE_CURRENT_LIST_DIR}/symbolize.c)
find_package(PkgConfig)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(NBLOG_LIBDW IMPORTED_TARGET libdw libelf)
  pkg_check_modules(NBLOG_DEBUGINFOD IMPORTED_TARGET libdebuginfod)
endif()
if(NBLOG_LIBDW_FOUND)
  target_compile_definitions(nblog_tool PRIVATE TOOL_HAVE_LIBDW)
  target_link_libraries(nblog_tool PRIVATE PkgConfig::NBLOG_LIBDW)
  if(NBLOG_DEBUGINFOD_FOUND)
    target_compile_definitions(nblog_tool PRIVATE TOOL_HAVE_DEBUGINFOD)
    target_link_libraries(nblog_tool PRIVATE PkgConfig::NBLOG_DEBUGINFOD)
  endif()
else()
  message(STATUS "nblog symbolize: libdw not found (Debian: libdw-dev); the subcommand will say so")
endif()

# One interface target carries the warnings; every ibzoo target links it.
add_library(ibzoo_warnings INTERFACE)
target_compile_options(ibzoo_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wnon-virtual-dtor
  $<$<BOOL:${IBZOO_WERROR}>:-Werror>)

# IBZOO_SANITIZE: AddressSanitizer + UndefinedBehaviorSanitizer on every ibzoo target
# (docs/FUZZING.md). Any UB report is fatal (-fno-sanitize-recover=all), so a test
# fails instead of printing and passing. Optimisation stays as the build type sets it
# so that the suite keeps its speed; -g1 (line tables only) is enough for symbolised
# stack traces and makes the build noticeably cheaper than full -g.
# -fno-sanitize=vptr: Debian's libtorch is not instrumented and its polymorphic
# classes (c10::TensorImpl, autograd nodes, ...) cross the shared-library boundary;
# the vptr check relies on type_info identity there and reports false positives.
if(IBZOO_SANITIZE OR IBZOO_FUZZ)
  target_compile_options(ibzoo_warnings INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-sanitize=vptr
    -fno-omit-frame-pointer -g1)
  target_link_options(ibzoo_warnings INTERFACE -fsanitize=address,undefined)
  # GCC's manual warns that sanitizers raise false -Wmaybe-uninitialized reports
  # (GCC 12 + ASan flags libstdc++'s own <regex>); -Werror would make them fatal.
  target_compile_options(ibzoo_warnings INTERFACE $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>)
endif()
# IBZOO_FUZZ (clang only): coverage instrumentation for libFuzzer in every ibzoo
# library; the fuzz targets themselves link -fsanitize=fuzzer (tests/fuzz).
if(IBZOO_FUZZ)
  target_compile_options(ibzoo_warnings INTERFACE -fsanitize=fuzzer-no-link)
endif()

# One interface target carries the warnings; every ibzoo target links it.
add_library(ibzoo_warnings INTERFACE)
target_compile_options(ibzoo_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wnon-virtual-dtor
  $<$<BOOL:${IBZOO_WERROR}>:-Werror>)

if(IBZOO_SANITIZE)
  target_compile_options(ibzoo_warnings INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
                         -fno-sanitize-recover=undefined)
  target_link_options(ibzoo_warnings INTERFACE -fsanitize=address,undefined)
endif()

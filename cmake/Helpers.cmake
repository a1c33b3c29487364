# ibzoo_layer_sources(OUT DIR) lists every .cpp of a layer's folder. A glob
# (re-checked at build time) keeps parallel work on a layer from colliding in
# one hand-maintained source list. A layer with no sources yet gets an empty
# translation unit so that the library target always exists.
function(ibzoo_layer_sources out dir)
  file(GLOB _srcs CONFIGURE_DEPENDS ${dir}/*.cpp)
  if(NOT _srcs)
    get_filename_component(_name ${dir} NAME)
    set(_empty ${CMAKE_BINARY_DIR}/empty_${_name}.cpp)
    file(WRITE ${_empty} "// layer ${_name} has no sources yet\n")
    set(_srcs ${_empty})
  endif()
  set(${out} ${_srcs} PARENT_SCOPE)
endfunction()

# ibzoo_precompile(TARGET HEADER...) precompiles HEADERs once for TARGET's sources. Most of
# a clean build is parsing the same few headers again: nlohmann/json (~3.7 s per source
# under the sanitizers; 98 of 164 sources include it through io/mpi.h and the manifests)
# and torch/torch.h (~15 s; the models layer). IBZOO_PCH=OFF builds without.
function(ibzoo_precompile target)
  if(IBZOO_PCH)
    target_precompile_headers(${target} PRIVATE ${ARGN})
  endif()
endfunction()

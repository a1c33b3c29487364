# Every dependency comes in as an imported target. All of them are Debian packages
# (scripts/setup.sh installs them); the CUDA machine provides its own libtorch.
find_package(Threads REQUIRED)
find_package(MPI REQUIRED COMPONENTS CXX)
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(Boost 1.74 REQUIRED)
if(IBZOO_CLI_WITH_BOOST)
  find_package(Boost 1.74 REQUIRED COMPONENTS program_options)
endif()

# Parallel HDF5 (Debian: libhdf5-openmpi-dev) when present: storage.layout
# per_checkpoint writes one shared file per checkpoint through MPI-IO. Without it
# (e.g. the CUDA machine's image) every output is a per-item or per-rank file and
# per_checkpoint is refused when the manifest is read.
if(NOT DEFINED HDF5_PREFER_PARALLEL)
  set(HDF5_PREFER_PARALLEL TRUE)
endif()
find_package(HDF5 REQUIRED COMPONENTS C)
add_library(ibzoo_hdf5 INTERFACE)
target_include_directories(ibzoo_hdf5 SYSTEM INTERFACE ${HDF5_INCLUDE_DIRS})
target_link_libraries(ibzoo_hdf5 INTERFACE ${HDF5_C_LIBRARIES})
target_compile_definitions(ibzoo_hdf5 INTERFACE ${HDF5_DEFINITIONS})
if(HDF5_IS_PARALLEL)
  target_compile_definitions(ibzoo_hdf5 INTERFACE IBZOO_HDF5_PARALLEL=1)
  target_link_libraries(ibzoo_hdf5 INTERFACE MPI::MPI_CXX)
endif()

# torch is wrapped so that only models/ (and the binaries that need it) see it.
find_package(Torch REQUIRED)
add_library(ibzoo_torch INTERFACE)
target_include_directories(ibzoo_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
# Torch's config appends flags such as -D_GLIBCXX_USE_CXX11_ABI through TORCH_CXX_FLAGS.
separate_arguments(_ibzoo_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
target_compile_options(ibzoo_torch INTERFACE ${_ibzoo_torch_flags})
# The PyPI libtorch (the CUDA machine's) is built with a toolchain that links parts
# of libstdc++ statically, std::filesystem among them, and exports them. If
# libtorch.so comes before libstdc++.so.6 in an executable's DT_NEEDED list, calls
# such as std::filesystem::remove_all bind to libtorch's older copy and crash.
# Naming libstdc++ first makes the system one win. Debian's libtorch needs nothing.
if(NOT TORCH_INSTALL_PREFIX MATCHES "^/usr(/|$)")
  target_link_libraries(ibzoo_torch INTERFACE -Wl,--push-state,--no-as-needed -lstdc++ -Wl,--pop-state)
endif()
target_link_libraries(ibzoo_torch INTERFACE ${TORCH_LIBRARIES})

find_package(GTest)

// float32 <-> bfloat16 / float16 bit conversions (round to nearest even), shared by
// the safetensors reader and writer (hf/safetensors.h), HDF5's float16 datasets
// (io/h5.h), the stored assignments and the tests.
#pragma once

#include <cstdint>
#include <span>

namespace ibzoo::io {

std::uint16_t float_to_bf16(float value);
float bf16_to_float(std::uint16_t bits);
std::uint16_t float_to_f16(float value);
float f16_to_float(std::uint16_t bits);
// Bulk forms (same results), for hot loops: the float16 -> float32 one reads a table.
void float_to_f16(std::span<const float> in, std::span<std::uint16_t> out);
void f16_to_float(std::span<const std::uint16_t> in, std::span<float> out);

}  // namespace ibzoo::io

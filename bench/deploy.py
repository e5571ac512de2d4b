"""Deployment benchmarks (issue 11): loading a saved function and running
it, and the ONNX model under onnxruntime.

    python bench/deploy.py

1. A 1M-parameter MLP (784-1024-192-10, float32) saved with
   ft.saved_function.save: the median time of `load` (file read, checks,
   graph rebuild, plan compile), and one batch of 32 through the loaded
   function vs the original traced function (medians of interleaved
   rounds, so both see the same machine load).
2. mlp_small_step's forward (784-128-10, batch 32, softmax cross-entropy
   logits): ft.function vs the exported ONNX model under onnxruntime on
   one thread.
"""

import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import fasttape as ft  # noqa: E402


def _median_time(fn, number, repeat=15):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return float(np.median(times))


def _mlp(sizes, batch, seed):
    rng = np.random.default_rng(seed)
    params = []
    for m, n in zip(sizes[:-1], sizes[1:]):
        params.append(ft.Variable((rng.normal(size=(m, n)) / np.sqrt(m)).astype(np.float32)))
        params.append(ft.Variable(np.zeros(n, np.float32)))

    @ft.function(input_signature=[ft.TensorSpec([None, sizes[0]], ft.float32)])
    def forward(x):
        for i in range(0, len(params), 2):
            x = x @ params[i] + params[i + 1]
            if i < len(params) - 2:
                x = ft.nn.relu(x)
        return x

    x = rng.normal(size=(batch, sizes[0])).astype(np.float32)
    n_params = sum(int(np.prod(p.shape)) for p in params)
    return forward, ft.constant(x), n_params


def saved_function_rows(workdir):
    forward, x, n_params = _mlp([784, 1024, 192, 10], 32, 0)
    forward(x)
    path = os.path.join(workdir, "mlp.ftsf")
    ft.saved_function.save(forward, path)
    load_s = _median_time(lambda: ft.saved_function.load(path), number=3)
    loaded = ft.saved_function.load(path).signatures["serving_default"]
    loaded(x)
    traced_s, loaded_s = [], []
    for _ in range(7):
        traced_s.append(_median_time(lambda: forward(x), number=50, repeat=3))
        loaded_s.append(_median_time(lambda: loaded(x), number=50, repeat=3))
    t, ld = float(np.median(traced_s)), float(np.median(loaded_s))
    return [(f"load a saved MLP ({n_params / 1e6:.2f}M params, "
             f"{os.path.getsize(path) / 2**20:.1f} MiB)", f"{load_s * 1e3:.1f} ms", "", ""),
            ("one batch of 32: traced / loaded", f"{t * 1e6:.0f} us", f"{ld * 1e6:.0f} us",
             f"{ld / t:.3f}x")]


def onnx_rows(workdir):
    import onnxruntime as ort

    forward, x, _ = _mlp([784, 128, 10], 32, 2)
    forward(x)
    path = os.path.join(workdir, "mlp_small.onnx")
    ft.onnx.export(forward, path)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    feed = {"x": x.numpy()}
    np.testing.assert_allclose(sess.run(None, feed)[0], forward(x).numpy(), rtol=1e-5,
                               atol=1e-6)
    ft_s, ort_s = [], []
    for _ in range(7):
        ft_s.append(_median_time(lambda: forward(x), number=200, repeat=3))
        ort_s.append(_median_time(lambda: sess.run(None, feed), number=200, repeat=3))
    f, o = float(np.median(ft_s)), float(np.median(ort_s))
    return [("mlp_small_step forward: ft.function / onnxruntime (1 thread)",
             f"{f * 1e6:.0f} us", f"{o * 1e6:.0f} us", f"{o / f:.3f}x")]


def main():
    with tempfile.TemporaryDirectory() as workdir:
        rows = saved_function_rows(workdir)
        try:
            rows += onnx_rows(workdir)
        except ImportError:
            rows.append(("onnxruntime not installed", "", "", ""))
    width = max(len(r[0]) for r in rows)
    print(f"{'workload':<{width}}  {'fasttape':>10}  {'other':>10}  {'ratio':>8}")
    for r in rows:
        print(f"{r[0]:<{width}}  {r[1]:>10}  {r[2]:>10}  {r[3]:>8}")


if __name__ == "__main__":
    main()

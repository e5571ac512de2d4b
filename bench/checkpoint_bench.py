"""Checkpoint save/restore speed and memory against PyTorch (issue 13).

A model of ~10M float32 parameters (an MLP of ft.layers.Dense, plus its Adam
optimizer's iteration count and learning rate) is saved with
`ft.train.Checkpoint.write` and restored with `.read`, and the same arrays
(as zero-copy torch tensors in a dict keyed by the checkpoint's paths) with
`torch.save` / `torch.load(weights_only=True)`. Times are medians of
`--repeat` runs into the same directory (page cache warm: this measures the
library, not the disk). "peak extra" is tracemalloc's peak during the save
beyond what was allocated before it, relative to the model's size.

    python bench/checkpoint_bench.py [--repeat 7] [--dir /tmp/x]

fasttape's save is durable (fsync of the file and of the directory, see
Note [Checkpoint file format]); torch.save does not fsync, so the table also
shows fasttape with CheckpointOptions(durable=False) against torch.save, and
torch.save made durable the same way (temporary file, fsync, rename, directory
fsync) against fasttape's default: the two like-for-like pairs. Likewise
fasttape's read restores into the model (checking each tensor's CRC-32), so
the torch row to compare it with is torch.load plus the copy into the
model's arrays (what load_state_dict does).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import tracemalloc

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import fasttape as ft  # noqa: E402

SIZES = [1024, 2048, 2048, 1280, 1024]  # ~10.1M parameters with biases


def build_model():
    layers = [ft.layers.Dense(n) for n in SIZES[1:]]
    x = np.ones((1, SIZES[0]), np.float32)
    for layer in layers:
        x = layer(x)
    model = ft.Module()
    model.layers = layers
    return model


def timed(fns, repeat):
    """The median time of each function, run interleaved (fns[0], fns[1], ...,
    fns[0], ...) so that the machine's load drifts affect them alike."""
    times = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def peak_extra(fn):
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - before


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    directory = args.dir or tempfile.mkdtemp(prefix="ft_ckpt_bench_")
    model = build_model()
    opt = ft.optimizers.Adam()
    ckpt = ft.train.Checkpoint(model=model, optimizer=opt)
    nparams = sum(int(np.prod(v.shape)) for v in model.variables)
    nbytes = sum(v.numpy().nbytes for v in model.variables)
    path = os.path.join(directory, "ft.ckpt")
    fast = ft.train.CheckpointOptions(durable=False)

    def read():
        ckpt.read(path).assert_consumed()

    saves = {"fasttape write (durable)": lambda: ckpt.write(path),
             "fasttape write (durable=False)": lambda: ckpt.write(path, fast)}
    loads = {"fasttape read": read}
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(1)
        tpath = os.path.join(directory, "torch.pt")
        from fasttape.train.checkpoint import _Graph

        tensors = {k: torch.from_numpy(np.asarray(a)) for k, a in _Graph(ckpt).serialize()[0]}
        saves["torch.save"] = lambda: torch.save(tensors, tpath)

        def torch_save_durable():  # what fasttape's default write does on top
            tmp = tpath + ".tmp"
            with open(tmp, "wb") as f:
                torch.save(tensors, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, tpath)
            fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

        saves["torch.save + fsync, rename"] = torch_save_durable
        loads["torch.load(weights_only=True)"] = lambda: torch.load(tpath, weights_only=True)
        targets = {k: np.asarray(a) for k, a in _Graph(ckpt).serialize()[0]}

        def torch_restore():  # load, then put the values into the model (load_state_dict)
            for k, t in torch.load(tpath, weights_only=True).items():
                np.copyto(targets[k], t.numpy())

        loads["torch.load + copy into the model"] = torch_restore
    for fn in saves.values():  # warm-up, and the files the loads read
        fn()
    rows = [(name, t, peak_extra(fn)) for (name, fn), t in
            zip(saves.items(), timed(list(saves.values()), args.repeat))]
    rows += [(name, t, None) for name, t in zip(loads, timed(list(loads.values()),
                                                             args.repeat))]
    print(f"model: {nparams / 1e6:.2f}M parameters, {nbytes / 2**20:.1f} MiB; median of "
          f"{args.repeat}")
    print(f"| {'operation':32} | time (ms) | peak extra / model size |")
    print(f"|{'-' * 34}|-----------|-------------------------|")
    for name, t, extra in rows:
        mem = "" if extra is None else f"{extra / nbytes:.3f}"
        print(f"| {name:32} | {t * 1e3:9.1f} | {mem:>23} |")
    if torch is not None:
        by = {name: t for name, t, _ in rows}
        print(f"save ratio (durable / torch.save): "
              f"{by['fasttape write (durable)'] / by['torch.save']:.2f}x; "
              f"(durable / torch.save + fsync, rename): "
              f"{by['fasttape write (durable)'] / by['torch.save + fsync, rename']:.2f}x; "
              f"(durable=False / torch.save): "
              f"{by['fasttape write (durable=False)'] / by['torch.save']:.2f}x; "
              f"load ratio: {by['fasttape read'] / by['torch.load(weights_only=True)']:.2f}x; "
              f"(read / torch.load + copy into the model): "
              f"{by['fasttape read'] / by['torch.load + copy into the model']:.2f}x")


if __name__ == "__main__":
    main()

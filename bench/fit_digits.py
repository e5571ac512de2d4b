"""fit_digits (issue #12): one epoch of a small convnet on scikit-learn's 8x8
digits, batch 64, with `Model.fit` (traced step and run_eagerly=True), with a
bare fasttape loop over the same batches, and with the same model and loop in
PyTorch eager, all on one core with one BLAS thread.

    python bench/fit_digits.py [--epochs 7] [--cpu 1]

Prints the median time per epoch of each, interleaved (the machines are
shared: compare the ratios of one run). Needs scikit-learn; PyTorch optional.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

BATCH = 64


def _data():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    y = digits.target.astype(np.int32)
    n = len(x) // BATCH * BATCH
    return x[:n], y[:n]


def _fasttape_model(ft):
    layers = ft.layers
    ft.random.set_seed(0)
    return ft.Sequential([
        layers.Conv2D(16, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
        layers.MaxPool2D(),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPool2D(),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10),
    ])


def _fit_runner(ft, x, y, run_eagerly):
    model = _fasttape_model(ft)
    model.compile(ft.optimizers.Adam(1e-3),
                  ft.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], run_eagerly=run_eagerly)

    def epoch():
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)

    return epoch


def _bare_runner(ft, x, y):
    model = _fasttape_model(ft)
    opt = ft.optimizers.Adam(1e-3)
    loss_fn = ft.losses.SparseCategoricalCrossentropy(from_logits=True)
    loss_mean, acc = ft.metrics.Mean(), ft.metrics.SparseCategoricalAccuracy()

    def epoch():
        variables = model.trainable_variables
        loss_mean.reset_state()
        acc.reset_state()
        for start in range(0, len(x), BATCH):
            xb = ft.constant(x[start:start + BATCH])
            yb = ft.constant(y[start:start + BATCH])
            with ft.GradientTape() as tape:
                logits = model(xb, training=True)
                loss = loss_fn(yb, logits)
            opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
            loss_mean.update_state(loss)
            acc.update_state(yb, logits)

    return epoch


def _torch_runner(x, y):
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    yt = torch.from_numpy(y).long()

    def epoch():
        total, correct = 0.0, 0
        for start in range(0, len(x), BATCH):
            xb, yb = xt[start:start + BATCH], yt[start:start + BATCH]
            opt.zero_grad()
            out = net(xb)
            loss = nn.functional.cross_entropy(out, yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
            correct += int((out.argmax(-1) == yb).sum())

    return epoch


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=7, help="timed epochs per variant")
    parser.add_argument("--cpu", type=int, default=1, help="the core to pin to")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {args.cpu})
        except OSError:
            pass
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import fasttape as ft

    x, y = _data()
    runners = {
        "fasttape fit (traced step)": _fit_runner(ft, x, y, run_eagerly=False),
        "fasttape fit (run_eagerly)": _fit_runner(ft, x, y, run_eagerly=True),
        "fasttape bare loop": _bare_runner(ft, x, y),
    }
    try:
        runners["torch eager loop"] = _torch_runner(x, y)
    except ImportError:
        pass
    for run in runners.values():  # warm-up: traces, slots, caches
        run()
    times = {name: [] for name in runners}
    for _ in range(args.epochs):
        for name, run in runners.items():
            t = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t)
    med = {name: float(np.median(ts)) for name, ts in times.items()}
    ref = med.get("torch eager loop")
    bare = med["fasttape bare loop"]
    from fasttape import models

    traced = models.traced_train_step_supported()
    print(f"fit_digits: {len(x)} samples, batch {BATCH}, median of {args.epochs} epochs"
          + ("" if traced else " (the train step runs eagerly: no tapes in traces yet)"))
    print(f"{'':30s} {'ms/epoch':>9s} {'vs torch':>9s} {'vs bare':>8s}")
    for name, t in med.items():
        vs_torch = f"{t / ref:.2f}x" if ref else "-"
        print(f"{name:30s} {t * 1e3:9.1f} {vs_torch:>9s} {t / bare:7.2f}x")


if __name__ == "__main__":
    main()

"""fit_digits: one epoch of examples/digits_fit.py's convnet, batch 64, on one core.

Usage: python bench/fit_digits.py [--quick] [--repeats N]   (run.py --fit-digits runs it pinned)

The same model (conv 3x3x32 SAME relu, max pool, conv 3x3x64 SAME relu, max
pool, flatten, dropout 0.3, dense 128 relu, dense 10), the same Adam (lr 1e-3)
and loss (sparse categorical cross-entropy from logits), the same 1437
training digits shuffled each epoch, the running mean loss and accuracy
tracked as Keras's fit does; each variant in its own process:

- fit (traced): `model.fit(x, y, batch_size=64, epochs=1, verbose=0)`, the
  train step through ft.function (Note [Traced train step] in
  fasttape/models.py);
- fit (eager): the same with `compile(run_eagerly=True)`;
- bare loop: a hand-written fasttape loop over the same batches (GradientTape,
  apply_gradients, the two metrics): what fit adds is the difference;
- torch eager: the same model, data and loop in PyTorch (NCHW), one thread.

Each cell: one warm-up epoch, then the median CPU time of `repeats` timed
epochs (Note [CPU time]); the variants run in turn `rounds` times and each
keeps its best round.
"""

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.append(ROOT)  # an installed fasttape wins; else the checkout's
sys.path.append(os.path.join(ROOT, "examples"))

BATCH = 64
VARIANTS = ("fit_traced", "fit_eager", "bare_loop", "torch_eager")
LABELS = {"fit_traced": "fasttape fit (traced step)", "fit_eager": "fasttape fit (run_eagerly)",
          "bare_loop": "fasttape bare loop", "torch_eager": "torch eager"}


def data():
    """The training digits: x (N, 8, 8, 1) float32, y (N,) int32 (synthetic,
    same shapes, when scikit-learn is missing)."""
    try:
        from digits_data import load_digits_split

        (x, y), _ = load_digits_split()
        return x, y
    except SystemExit:
        rng = np.random.default_rng(0)
        return rng.random((1437, 8, 8, 1), np.float32), rng.integers(0, 10, 1437, np.int32)


def fasttape_model():
    from digits_fit import make_model

    import fasttape as ft

    ft.random.set_seed(0)
    return make_model()


def run_fasttape(variant, x, y):
    """One epoch's function for a fasttape variant."""
    import fasttape as ft

    model = fasttape_model()
    if variant != "bare_loop":
        model.compile(optimizer=ft.optimizers.Adam(1e-3),
                      loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"], run_eagerly=variant == "fit_eager")

        def epoch():
            model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=True)
        return epoch

    loss_fn = ft.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = ft.optimizers.Adam(1e-3)
    mean_loss, acc = ft.metrics.Mean(), ft.metrics.SparseCategoricalAccuracy()
    rng = np.random.default_rng(0)

    def epoch():
        mean_loss.reset_state()
        acc.reset_state()
        order = rng.permutation(len(x))
        for start in range(0, len(x), BATCH):
            idx = order[start:start + BATCH]
            xb, yb = ft.constant(x[idx]), ft.constant(y[idx])
            with ft.GradientTape() as tape:
                logits = model(xb, training=True)
                loss = loss_fn(yb, logits)
            variables = model.trainable_variables
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            mean_loss.update_state(loss)
            acc.update_state(yb, logits)

    return epoch


def run_torch(x, y):
    """One epoch's function for the PyTorch model."""
    import torch
    from torch import nn

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 2 * 2, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    yt = torch.from_numpy(y.astype(np.int64))
    generator = torch.Generator().manual_seed(0)

    def epoch():
        model.train()
        total, correct, seen = 0.0, 0, 0
        order = torch.randperm(len(xt), generator=generator)
        for start in range(0, len(xt), BATCH):
            idx = order[start:start + BATCH]
            xb, yb = xt[idx], yt[idx]
            optimizer.zero_grad(set_to_none=True)
            logits = model(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            optimizer.step()
            with torch.no_grad():  # the running mean loss and accuracy, as fit's
                total += float(loss) * len(yb)
                correct += int((logits.argmax(1) == yb).sum())
                seen += len(yb)
        return total / seen, correct / seen

    return epoch


def cell(variant, repeats):
    """Seconds per epoch (median of `repeats`) for one variant, in this process."""
    x, y = data()
    epoch = run_torch(x, y) if variant == "torch_eager" else run_fasttape(variant, x, y)
    epoch()  # warm-up: builds, first-call costs
    # Note [CPU time]: the process's CPU time, not the wall clock: every
    # variant runs on one thread (BLAS, torch), so on an idle core the two
    # agree, and on a shared machine the CPU time leaves out the time the
    # process waited for other processes (the wall clock varied 2x between
    # runs here, the CPU time by a few percent)
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        epoch()
        times.append(time.process_time() - t0)
    return {"variant": variant, "median": statistics.median(times), "min": min(times),
            "max": max(times), "repeats": repeats}


def pin_prefix(cpu):
    if shutil.which("taskset") and cpu in os.sched_getaffinity(0):
        return ["taskset", "-c", str(cpu)]
    return []


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=7, help="timed epochs per cell")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved runs of every variant; each keeps its best")
    parser.add_argument("--quick", action="store_true",
                        help="one round of 2 timed epochs (smoke test)")
    parser.add_argument("--cpu", type=int, default=1, help="core to pin cells to (default 1)")
    args = parser.parse_args()
    repeats = 2 if args.quick else args.repeats
    rounds = 1 if args.quick else args.rounds
    if args.cell:
        print(json.dumps(cell(args.cell, repeats)), flush=True)
        return

    import importlib.util

    variants = [v for v in VARIANTS
                if v != "torch_eager" or importlib.util.find_spec("torch") is not None]
    # Note [Interleaved rounds]: the machines are shared; the variants run in
    # turn, `rounds` times, and each keeps its best round's median, so that a
    # burst of load hits one round of one variant, not a whole column.
    results = {}
    for rnd in range(rounds):
        for v in variants:
            cmd = pin_prefix(args.cpu) + [sys.executable, os.path.abspath(__file__), "--cell",
                                          v, "--repeats", str(repeats)]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            if proc.returncode or not lines:
                r = {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
            else:
                r = json.loads(lines[-1])
            best = results.get(v)
            if best is None or "error" in best or ("error" not in r and
                                                   r["median"] < best["median"]):
                results[v] = r
            print(f"fit_digits round {rnd + 1}/{rounds} {v:12} " +
                  (r.get("error") or f"{r['median'] * 1e3:.1f} ms/epoch"),
                  file=sys.stderr, flush=True)
    print(table(results))
    from _cell import blas_note  # (bench/ is sys.path[0])

    print(blas_note())


def table(results):
    torch_r, bare = results.get("torch_eager"), results.get("bare_loop")
    goals = {"fit_traced": "≤ 0.8× torch, ≤ 1.1× bare", "fit_eager": "≤ 1.0× torch",
             "bare_loop": "", "torch_eager": ""}
    lines = ["| fit_digits (1 epoch, batch 64) | CPU time/epoch | × torch | × bare loop | goal |",
             "|---|---:|---:|---:|---|"]

    def ratio(r, ref):
        if ref is None or "error" in ref or ref is r:
            return ""
        return f"{r['median'] / ref['median']:.2f}×"

    for v, r in results.items():
        if "error" in r:
            lines.append(f"| {LABELS[v]} | error: {r['error'][:60]} | | | |")
            continue
        lines.append(f"| {LABELS[v]} | {r['median'] * 1e3:.1f} ms | {ratio(r, torch_r)} | "
                     f"{ratio(r, bare)} | {goals[v]} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

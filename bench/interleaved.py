"""Ratios to hand-written NumPy measured in one process, the libraries taking
turns: for each workload, NumPy, fasttape eager and ft.function each run a
batch of steps in turn (each round starting with the next of them), 25
rounds, and each keeps its fastest batch.

run.py runs every cell in its own process, the BENCH.md method; on a shared
VM the cells of one row can land minutes apart under different load, and
ratios then move by 10-20% between runs. Here the three columns see the same
load, so the ratios hold to a few percent. Use it to check a goal at its edge.

    OPENBLAS_NUM_THREADS=1 taskset -c 1 python bench/interleaved.py [workload ...]
"""

import sys
import time

import workloads_fasttape
import workloads_ft_function
import workloads_numpy
from _data import WORKLOADS

LIBS = {"numpy": workloads_numpy, "eager": workloads_fasttape,
        "ft.function": workloads_ft_function}
DEFAULT = ["chain_small", "mlp_small_step", "rnn_step", "broadcast_reduce"]


def measure(name, rounds=25, target=0.02):
    dtype = WORKLOADS[name][1]
    work = {lib: mod.WORKLOADS[name] for lib, mod in LIBS.items()}
    state = {lib: w.setup(dtype) for lib, w in work.items()}
    for lib, w in work.items():  # warm-up, and the batch size: about `target` seconds
        w.step(state[lib])
    t = time.perf_counter()
    work["numpy"].step(state["numpy"])
    n = max(1, int(target / max(time.perf_counter() - t, 1e-9)))
    best = {lib: float("inf") for lib in work}
    libs = list(work)
    for r in range(rounds):
        # each round starts with the next library: the one that runs right
        # after another's allocations and cache contents is not always the same
        for lib in libs[r % len(libs):] + libs[:r % len(libs)]:
            w = work[lib]
            t = time.perf_counter()
            for _ in range(n):
                w.step(state[lib])
            best[lib] = min(best[lib], (time.perf_counter() - t) / n)
            w.reset(state[lib])
    return best


def main():
    print("| workload | numpy | eager | ft.function |")
    print("|---|---:|---:|---:|")
    for name in sys.argv[1:] or DEFAULT:
        best = measure(name)
        ref = best["numpy"]
        print(f"| {name} | {ref * 1e6:.1f} µs | {best['eager'] / ref:.2f}× | "
              f"{best['ft.function'] / ref:.2f}× |")


if __name__ == "__main__":
    main()

"""Cost of the instruments (issue 13): the profiler off (before any profile
block, and after one: the op table must be back to its original functions),
check_numerics on, and the profiler on, for chain_small, overhead_add_grad
and mlp_small_step (bench/workloads_fasttape.py).

    python bench/instrument_bench.py [--repeat 7]

Each cell is the median over `--repeat` interleaved batches of the time per
step; the ratio is to the "off (never enabled)" column of the same run.
"""

import argparse
import os
import statistics
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # single-threaded BLAS, as bench/_cell.py

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from workloads_fasttape import WORKLOADS  # noqa: E402

import fasttape as ft  # noqa: E402

NAMES = ("chain_small", "overhead_add_grad", "mlp_small_step")


def _batch(step, state, seconds=0.05):
    n, t0 = 0, time.perf_counter()
    while True:
        step(state)
        n += 1
        t = time.perf_counter() - t0
        if t >= seconds:
            return t / n


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print("| workload | off, never enabled (us) | off, after a profile | "
          "check_numerics on | profiler on |")
    print("|---|---|---|---|---|")
    for name in NAMES:
        w = WORKLOADS[name]
        state = w.setup(__import__("_data").WORKLOADS[name][1])
        modes = {"base": [], "after": [], "numerics": [], "profile": []}
        for _ in range(args.repeat):
            w.reset(state)
            modes["base"].append(_batch(w.step, state))
            with ft.profiler.profile(record_lines=False):
                w.step(state)
            w.reset(state)
            modes["after"].append(_batch(w.step, state))
            ft.debugging.enable_check_numerics()
            try:
                w.reset(state)
                modes["numerics"].append(_batch(w.step, state))
            finally:
                ft.debugging.disable_check_numerics()
            with ft.profiler.profile(record_lines=False) as prof:
                w.reset(state)
                modes["profile"].append(_batch(w.step, state))
            prof.events.clear()
        med = {k: statistics.median(v) * 1e6 for k, v in modes.items()}
        base = med["base"]
        print(f"| {name} | {base:.1f} | {med['after']:.1f} ({med['after'] / base:.2f}x) | "
              f"{med['numerics']:.1f} ({med['numerics'] / base:.2f}x) | "
              f"{med['profile']:.1f} ({med['profile'] / base:.2f}x) |")


if __name__ == "__main__":
    main()

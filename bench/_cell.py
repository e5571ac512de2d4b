"""Run one (library, workload) benchmark cell and print its result as one JSON line.

Usage: python bench/_cell.py LIB WORKLOAD [--quick]   (LIB: numpy, fasttape, ft_function, torch)

Method as in BENCH.md: single-threaded BLAS, gradient check against a float64
run of the hand-written NumPy backward, warm-up, calibration to ~250 ms batches,
7 timed batches; `run.py` pins the process to one core. On failure the JSON
line carries "error" instead of timings.
"""

import os

# Before NumPy (and torch) are imported, so that their BLAS pools start with one thread.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import _data  # noqa: E402  (bench/ is sys.path[0] when run as a script)
import numpy as np  # noqa: E402

# An installed fasttape wins; otherwise use the checkout's (built in place).
sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LIBS = ("numpy", "fasttape", "ft_function", "torch")


def blas_note():
    """A line naming NumPy's BLAS kernel (through threadpoolctl, which
    scikit-learn brings) and an OPENBLAS_CORETYPE the environment forces: on
    some machines it forces an older kernel that runs GEMMs at half speed
    (bench/README.md, "NumPy's BLAS kernel")."""
    forced = os.environ.get("OPENBLAS_CORETYPE")
    try:
        from threadpoolctl import threadpool_info

        kernels = [f"{i.get('internal_api')} {i.get('architecture')}" for i in threadpool_info()
                   if i.get("user_api") == "blas"]
    except ImportError:
        kernels = []
    return (f"NumPy's BLAS: {', '.join(kernels) or 'unknown (no threadpoolctl)'}"
            + (f"; OPENBLAS_CORETYPE={forced} is set" if forced else ""))
TOLERANCE = {np.dtype(np.float32): 2e-3, np.dtype(np.float64): 1e-9}

# (warm-up seconds, batch seconds, batches)
FULL = (0.3, 0.25, 7)
QUICK = (0.1, 0.05, 3)


def check_grads(workload, module, state):
    """'ok (worst relative error)' or 'fail: why', comparing `module`'s gradients
    with the float64 hand-written NumPy ones."""
    import workloads_numpy
    ref_wl = workloads_numpy.WORKLOADS[workload]
    refs = ref_wl.grads(ref_wl.setup(np.float64))
    try:
        got = module.WORKLOADS[workload].grads(state)
    except Exception as e:  # report, then still time the cell
        return f"fail: {type(e).__name__}: {e}"
    if len(got) != len(refs):
        return f"fail: {len(got)} gradients, expected {len(refs)}"
    dtype = _data.dtype_of(workload)
    worst = 0.0
    for i, (g, ref) in enumerate(zip(got, refs)):
        g = np.asarray(g)
        if g.dtype != dtype:
            return f"fail: gradient {i} has dtype {g.dtype}, parameter dtype {dtype}"
        if g.shape != ref.shape:
            return f"fail: gradient {i} has shape {g.shape}, expected {ref.shape}"
        err = float(np.max(np.abs(g - ref)) / np.max(np.abs(ref)))
        if not err <= TOLERANCE[dtype]:  # also catches NaN
            return f"fail: gradient {i} relative error {err:.3g} > {TOLERANCE[dtype]:g}"
        worst = max(worst, err)
    return f"ok ({worst:.2g})"


def measure(wl, state, warmup_s, batch_s, batches):
    """Median, min and max seconds per `step` call over `batches` timed batches."""
    step, reset, clock = wl.step, wl.reset, time.perf_counter
    reset(state)
    calls = []
    start = clock()
    while len(calls) < 3 or clock() - start < warmup_s:
        t0 = clock()
        step(state)
        calls.append(clock() - t0)
    # Calibrate on the second half of the warm-up, past first-call effects.
    per_call = statistics.median(calls[len(calls) // 2:])
    n = max(1, round(batch_s / per_call))
    times = []
    for _ in range(batches):
        reset(state)  # untimed: parameters back to their initial values
        t0 = clock()
        for _ in range(n):
            step(state)
        times.append((clock() - t0) / n)
    return {"median": statistics.median(times), "min": min(times),
            "max": max(times), "n": n, "batches": batches}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lib", choices=LIBS)
    parser.add_argument("workload", choices=list(_data.WORKLOADS))
    parser.add_argument("--quick", action="store_true",
                        help="short warm-up, 3 batches of ~50 ms (smoke test)")
    args = parser.parse_args()
    result = {"lib": args.lib, "workload": args.workload}
    try:
        module = importlib.import_module("workloads_" + args.lib)
        wl = module.WORKLOADS[args.workload]
        state = wl.setup(_data.dtype_of(args.workload))
        result["grad_check"] = check_grads(args.workload, module, state)
        result.update(measure(wl, state, *(QUICK if args.quick else FULL)))
    except Exception as e:
        result["error"] = f"{type(e).__name__}: {e}"
        print(json.dumps(result), flush=True)
        raise  # traceback on stderr, non-zero exit
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

"""Run the BENCH.md benchmarks and print a markdown table of times and ratios to NumPy.

Each (library, workload) cell runs in its own process (`bench/_cell.py`), pinned
with `taskset -c CPU` when possible; cells run one at a time, workload by
workload, so that each ratio compares runs made close together.
"""

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _cell import blas_note  # noqa: E402
from _data import WORKLOADS  # noqa: E402

LIBS = ("numpy", "fasttape", "ft_function", "torch")
#: column headers
TITLES = {"ft_function": "ft.function"}


def pin_prefix(cpu):
    """`taskset -c CPU` if taskset exists and the CPU is ours, else nothing."""
    if shutil.which("taskset") and cpu in os.sched_getaffinity(0):
        return ["taskset", "-c", str(cpu)]
    print(f"note: cannot pin to CPU {cpu}; running unpinned", file=sys.stderr)
    return []


def run_cell(prefix, lib, workload, quick, timeout):
    """The cell's result dict; on any failure, {"error": short reason}."""
    cmd = prefix + [sys.executable, os.path.join(HERE, "_cell.py"), lib, workload]
    if quick:
        cmd.append("--quick")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout} s"}
    result = None
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            result = json.loads(line)
    if result is None:
        lines = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
        result = {"error": lines[-1]}
    return result


def fmt_time(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def fmt_cell(result, reference):
    if "error" in result:
        reason = result["error"].replace("|", "/").replace("\n", " ")
        if reason.startswith("NotAvailable: "):  # workloads_ft_function: not traceable yet
            reason = reason[len("NotAvailable: "):]
            return reason if len(reason) <= 70 else reason[:67] + "..."
        return "error: " + (reason if len(reason) <= 60 else reason[:57] + "...")
    text = fmt_time(result["median"])
    if reference is not None and "error" not in reference and result is not reference:
        text += f" ({result['median'] / reference['median']:.2f}×)"
    if not result["grad_check"].startswith("ok"):
        text += " **grad FAIL**"
    return text


def table(results, libs, workloads):
    lines = ["| workload | " + " | ".join(TITLES.get(lib, lib) for lib in libs) + " |",
             "|---|" + "---:|" * len(libs)]
    for w in workloads:
        reference = results[w].get("numpy")
        cells = [fmt_cell(results[w][lib], reference) for lib in libs]
        lines.append(f"| {w} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--libs", default=",".join(LIBS),
                        help="comma-separated subset of " + ",".join(LIBS))
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help="comma-separated subset of " + ",".join(WORKLOADS))
    parser.add_argument("--quick", action="store_true",
                        help="short warm-up and 3 short batches: a smoke test, not a measurement")
    parser.add_argument("--cpu", type=int, default=1, help="core to pin cells to (default 1)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per cell")
    parser.add_argument("--json", metavar="PATH", help="also write every cell's result here")
    parser.add_argument("--fit-digits", action="store_true",
                        help="also run bench/fit_digits.py (fit vs a bare loop vs torch)")
    args = parser.parse_args()

    libs = [lib for lib in args.libs.split(",") if lib]
    workloads = [w for w in args.workloads.split(",") if w]
    for name, known in (("library", LIBS), ("workload", WORKLOADS)):
        unknown = set(libs if name == "library" else workloads) - set(known)
        if unknown:
            parser.error(f"unknown {name}(s): {', '.join(sorted(unknown))}")
    if "torch" in libs and importlib.util.find_spec("torch") is None:
        print("note: torch is not importable; its column is omitted", file=sys.stderr)
        libs.remove("torch")

    prefix = pin_prefix(args.cpu)
    results = {}
    for w in workloads:
        results[w] = {}
        for lib in libs:
            r = run_cell(prefix, lib, w, args.quick, args.timeout)
            results[w][lib] = r
            status = r.get("error") or f"{fmt_time(r['median'])}, grad {r['grad_check']}"
            print(f"{w:20} {lib:9} {status}", file=sys.stderr, flush=True)

    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print()
    print(table(results, libs, workloads))
    print()
    print("Median time per iteration; (×) is the ratio to hand-written NumPy in this run."
          " overhead_* iterations are 1000 adds, so their ms read as µs per add.")
    print(blas_note())
    if args.quick:
        print("--quick: smoke test only, these timings are not measurements.")
    if args.fit_digits:
        cmd = [sys.executable, os.path.join(HERE, "fit_digits.py"), "--cpu", str(args.cpu)]
        subprocess.run(cmd + (["--quick"] if args.quick else []), check=False)
    for w in workloads:
        for lib in libs:
            r = results[w][lib]
            if "error" not in r and not r["grad_check"].startswith("ok"):
                print(f"- {lib} {w}: gradient check {r['grad_check']}")


if __name__ == "__main__":
    main()

"""The examples run to completion (as the README tells users to run them)."""

import os
import re
import resource
import subprocess
import sys

import pytest

import fasttape

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_example(name, **env_vars):
    """Runs examples/`name` as the README says; returns (completed process,
    CPU seconds it used)."""
    env = dict(os.environ, **env_vars)
    # the fasttape this test session imports (installed or built in place)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(fasttape.__file__)))
    env["PYTHONPATH"] = package_root + os.pathsep + env.get("PYTHONPATH", "")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", name)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert r.returncode == 0, r.stdout + r.stderr
    return r, cpu


def test_quickstart_runs():
    r, _ = run_example("quickstart.py")
    assert "loss fell from" in r.stdout
    assert "reloaded weights give the same loss: OK" in r.stdout


def test_readme_python_blocks_run():
    import re
    import warnings

    with open(os.path.join(ROOT, "README.md")) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    assert blocks
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the explain_unconnected example warns, as it says
        exec(compile("\n".join(blocks), "README.md", "exec"), {})


@pytest.mark.parametrize("name", ["digits_fit.py", "digits_custom_loop.py"])
def test_digits_examples_reach_97_percent_within_a_minute(name):
    # the full runs, as the README claims: >= 97% test accuracy in under a
    # minute of CPU on one core (CPU time, so that a busy machine does not fail it)
    pytest.importorskip("sklearn")
    r, cpu = run_example(name)
    (accuracy,) = re.findall(r"test accuracy: ([0-9.]+)", r.stdout)
    assert float(accuracy) >= 0.97, r.stdout
    assert cpu < 60, f"{name} used {cpu:.1f} s of CPU"
    assert "reloaded weights give the same predictions: OK" in r.stdout
    if name == "digits_fit.py":  # the progress output (plain lines: not a terminal)
        assert re.search(r"Epoch 20/20\n23/23 .*loss: [0-9.]+ - accuracy: [0-9.]+", r.stdout)
    else:
        assert "epoch 20/20: loss" in r.stdout

"""The examples run to completion (as the README tells users to run them)."""

import os
import subprocess
import sys

import fasttape

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quickstart_runs():
    env = dict(os.environ)
    # the fasttape this test session imports (installed or built in place)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(fasttape.__file__)))
    env["PYTHONPATH"] = package_root + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stdout + r.stderr
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

#!/usr/bin/env bash
# Runs tests (default: tests/core) under valgrind memcheck with a debug build
# and fails on any error or definite leak that has a fasttape frame (the C
# tape or the Cython core); CPython's own known reports are suppressed by
# tools/python.supp. Slow (tens of minutes for tests/core): not part of CI.
#   tools/memcheck.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
FASTTAPE_DEBUG=1 python setup.py build_ext --inplace --force -q >/dev/null
trap 'python setup.py build_ext --inplace --force -q >/dev/null' EXIT  # back to the optimised build
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(tests/core -q -p no:cacheprovider)
py=$(python -c 'import sys; print(sys.executable)')  # the binary, not a pyenv shim
PYTHONMALLOC=malloc valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \
    --num-callers=30 --suppressions=tools/python.supp \
    "$py" -m pytest "${args[@]}" > /tmp/memcheck.log 2>&1 || true
python tools/memcheck_filter.py /tmp/memcheck.log

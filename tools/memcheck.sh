#!/usr/bin/env bash
# Runs the core tests under valgrind memcheck: zero errors, and no definite
# leaks from fasttape's C tape or Cython core. Slow (minutes): not part of CI.
#   tools/memcheck.sh [pytest args...]   (default: tests/core)
set -euo pipefail
cd "$(dirname "$0")/.."
FASTTAPE_DEBUG=1 python setup.py build_ext --inplace -q >/dev/null
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(tests/core -x -q -p no:cacheprovider)
PYTHONMALLOC=malloc valgrind --tool=memcheck --error-exitcode=3 --errors-for-leak-kinds=definite \
    --leak-check=full --show-leak-kinds=definite --num-callers=30 \
    --suppressions=tools/python.supp --gen-suppressions=no \
    python -m pytest "${args[@]}" 2>&1 | tee /tmp/memcheck.log | tail -40
echo "full log: /tmp/memcheck.log"

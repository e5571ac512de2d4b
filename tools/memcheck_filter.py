"""Reads a valgrind memcheck log and prints every error or definite leak with a
fasttape frame (Cython core, C tape); exits 1 if there is one. Used by memcheck.sh."""

import re
import sys

log = open(sys.argv[1]).read()
blocks = re.split(r"==\d+== \n", log)
ours = [b for b in blocks
        if re.search(r"Invalid|uninitialised|definitely lost|Mismatched|overlap", b)
        and re.search(r"__pyx_|\bft_|fasttape_tape|_testing\.c|core\.c", b)]
for b in ours:
    print(b[:4000])
    print("-" * 60)
summary = re.findall(r"ERROR SUMMARY: .*", log)
print(summary[-1] if summary else "no ERROR SUMMARY (did valgrind run?)")
print(f"errors or definite leaks with a fasttape frame: {len(ours)}")
sys.exit(1 if ours or not summary else 0)

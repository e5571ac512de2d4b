"""`ft.profiler`: per-op counts and wall times, by op and by source line.

    with ft.profiler.profile() as prof:
        train_step()
    print(prof)                      # a table, sorted by total time
    prof.by_line()                   # [(file, line, source, ms, count)]
    prof.export_chrome_trace("trace.json")   # chrome://tracing, Perfetto

Ops are timed in eager mode, in the gradient sweep (the "backward" rows: the
VJP of each op, and the ops run inside it) and in the steps of traced
functions (whenever they were traced). See Note [Instrumented ops] in
fasttape/_instrument.py: when no profile is active nothing is timed, the
op table holds its original functions (zero cost).
"""

import json
import os
import threading

from fasttape import _instrument
from fasttape.errors import user_frame


class Profile:
    """The record of one `profile()` block: `events`, a list of
    (name, phase, start_ns, end_ns, depth, thread id, (file, line, source))."""

    def __init__(self, record_lines=True):
        self.events = []
        self.record_lines = record_lines
        self._lock = threading.Lock()

    def __enter__(self):
        _instrument.add(self)
        return self

    def __exit__(self, *exc):
        _instrument.remove(self)
        return False

    # instrument callbacks (fasttape/_instrument.py)

    def forward(self, op, inputs, out, grad_of, t0, t1, depth):
        phase = "forward" if grad_of is None else "backward"
        self._add(op.name, phase, t0, t1, depth)

    def backward(self, op, index, args, out, t0, t1, depth):
        self._add(f"{op.name} (gradient)", "backward", t0, t1, depth)

    def _add(self, name, phase, t0, t1, depth):
        where = user_frame() if self.record_lines else None
        with self._lock:
            self.events.append((name, phase, t0, t1, depth, threading.get_ident(), where))

    # reports

    def table(self):
        """[(name, phase, count, total ms, mean us)] sorted by total time,
        counting each op's own calls (nested ones are listed separately)."""
        rows = {}
        for name, phase, t0, t1, *_ in self.events:
            r = rows.setdefault((name, phase), [0, 0])
            r[0] += 1
            r[1] += t1 - t0
        out = [(name, phase, n, ns / 1e6, ns / 1e3 / n) for (name, phase), (n, ns) in
               rows.items()]
        return sorted(out, key=lambda r: -r[3])

    def by_line(self):
        """[(file, line, source, total ms, op count)] of the outermost op
        calls, grouped by the user's line that made them, slowest first."""
        rows = {}
        for _, _, t0, t1, depth, _, where in self.events:
            if depth != 0:
                continue
            key = where or ("<unknown>", 0, "")
            r = rows.setdefault(key, [0, 0])
            r[0] += t1 - t0
            r[1] += 1
        return sorted(((f, ln, src, ns / 1e6, n) for (f, ln, src), (ns, n) in rows.items()),
                      key=lambda r: -r[3])

    def total_ms(self):
        return sum(t1 - t0 for _, _, t0, t1, depth, *_ in self.events if depth == 0) / 1e6

    def __str__(self):
        rows = self.table()
        lines = [f"{'op':<32} {'phase':<9} {'calls':>7} {'total ms':>10} {'mean us':>9}"]
        for name, phase, n, ms, mean in rows:
            lines.append(f"{name[:32]:<32} {phase:<9} {n:>7} {ms:>10.3f} {mean:>9.2f}")
        lines.append(f"{len(self.events)} op calls, {self.total_ms():.3f} ms in outermost ops")
        return "\n".join(lines)

    def export_chrome_trace(self, path):
        """Writes the events in the Trace Event Format (JSON object form:
        complete "X" events in microseconds), which chrome://tracing and
        Perfetto load."""
        pid = os.getpid()
        base = min((e[2] for e in self.events), default=0)
        events = []
        for name, phase, t0, t1, _depth, tid, where in self.events:
            ev = {"name": name, "cat": phase, "ph": "X", "ts": (t0 - base) / 1e3,
                  "dur": (t1 - t0) / 1e3, "pid": pid, "tid": tid}
            if where is not None:
                ev["args"] = {"file": where[0], "line": where[1], "source": where[2]}
            events.append(ev)
        with open(path, "w") as f:
            json.dump({"traceEvents": events, "displayTimeUnit": "ms"}, f)
        return path


def profile(record_lines=True):
    """A context manager recording every op call inside it (a Profile).

    >>> import fasttape as ft
    >>> with ft.profiler.profile() as prof:
    ...     y = ft.exp(ft.constant([1.0, 2.0])) * 2.0
    >>> sorted({name for name, *_ in prof.events})
    ['exp', 'multiply']
    """
    return Profile(record_lines)

"""`ft.train.CheckpointManager` and `ft.train.latest_checkpoint`.

Note [Checkpoint state file]
~~~~~~~~~~~~~~~~~~~~~~~~~~~~
A directory of checkpoints has a state file, 'checkpoint' (TensorFlow's name;
JSON here, not a text protobuf): {"format", "version", "latest", "all",
"timestamps", "last_preserved_timestamp"}, paths relative to the directory.
It is written atomically (fasttape/train/_format.py) after the checkpoint
file, and old checkpoints are deleted only after it: a process killed at any
moment leaves 'latest' naming a complete checkpoint.
"""

import glob
import json
import os
import time

import numpy as np

from fasttape.errors import DataLossError
from fasttape.train import _format

STATE_FILE = "checkpoint"
_STATE_FORMAT = "fasttape.checkpoint_state"
_STATE_VERSION = 1

_now = time.time  # replaced by tests


def _state_path(directory, latest_filename=None):
    return os.path.join(directory, latest_filename or STATE_FILE)


def _read_state(directory, latest_filename=None):
    path = _state_path(directory, latest_filename)
    try:
        with open(path, "rb") as f:
            raw = f.read(1 << 24)
    except FileNotFoundError:
        return None
    try:
        state = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError, UnicodeDecodeError):
        state = None
    if (not isinstance(state, dict) or state.get("format") != _STATE_FORMAT
            or state.get("version") != _STATE_VERSION
            or not isinstance(state.get("all"), list)
            or not all(isinstance(p, str) for p in state["all"])
            or not isinstance(state.get("timestamps"), list)
            or len(state["timestamps"]) != len(state["all"])
            or not all(isinstance(t, (int, float)) for t in state["timestamps"])
            or not isinstance(state.get("latest"), (str, type(None)))):
        raise DataLossError(f"checkpoint state file {path!r} is corrupt or of an unknown "
                            "version")
    return state


def _write_state(directory, latest, paths, timestamps, last_preserved):
    def rel(p):
        return os.path.relpath(p, directory) if os.path.isabs(p) == os.path.isabs(
            directory) else p

    state = {"format": _STATE_FORMAT, "version": _STATE_VERSION,
             "latest": None if latest is None else rel(latest),
             "all": [rel(p) for p in paths], "timestamps": list(timestamps),
             "last_preserved_timestamp": last_preserved}
    _format.atomic_write(_state_path(directory), [json.dumps(state, indent=1).encode()])


def _resolve(directory, p):
    return p if os.path.isabs(p) else os.path.join(directory, p)


def latest_checkpoint(checkpoint_dir, latest_filename=None):
    """The path of the newest checkpoint recorded in `checkpoint_dir`'s state
    file (by `Checkpoint.save` or a CheckpointManager), or None."""
    checkpoint_dir = os.fspath(checkpoint_dir)
    state = _read_state(checkpoint_dir, latest_filename)
    if state is None or state["latest"] is None:
        return None
    path = _resolve(checkpoint_dir, state["latest"])
    return path if os.path.isfile(path) else None


def _record_save(path):
    """Checkpoint.save's update of the state file: `path` becomes the latest."""
    directory = os.path.dirname(path) or "."
    state = _read_state(directory) or {"all": [], "timestamps": [],
                                       "last_preserved_timestamp": _now()}
    pairs = [(_resolve(directory, p), t) for p, t in zip(state["all"], state["timestamps"])]
    pairs = [(p, t) for p, t in pairs if p != path and os.path.isfile(p)] + [(path, _now())]
    _write_state(directory, path, [p for p, _ in pairs], [t for _, t in pairs],
                 state.get("last_preserved_timestamp", _now()))


class CheckpointManager:
    """Keeps the newest `max_to_keep` checkpoints of `checkpoint` in
    `directory` (TensorFlow's tf.train.CheckpointManager).

    Args:
        checkpoint: the ft.train.Checkpoint to save and restore.
        directory: where to write 'checkpoint_name-N' files and the state file.
        max_to_keep: how many to keep (older ones are deleted); None keeps all.
        keep_checkpoint_every_n_hours: also keep (forever) one checkpoint per
            this many hours among those `max_to_keep` would delete.
        checkpoint_name: the files' prefix.
        step_counter, checkpoint_interval: with both, `save()` only writes when
            `step_counter` advanced by at least `checkpoint_interval` since the
            last save.
        init_fn: called by `restore_or_initialize` when there is no checkpoint.

    A manager made on a directory that has checkpoints takes them over (it
    will delete them as it saves new ones).
    """

    def __init__(self, checkpoint, directory, max_to_keep=5, keep_checkpoint_every_n_hours=None,
                 checkpoint_name="ckpt", step_counter=None, checkpoint_interval=None,
                 init_fn=None):
        if max_to_keep is not None and (not isinstance(max_to_keep, int) or max_to_keep < 1):
            raise ValueError(f"CheckpointManager: max_to_keep must be None or a positive "
                             f"int, got {max_to_keep!r}")
        if checkpoint_interval is not None and step_counter is None:
            raise ValueError("CheckpointManager: checkpoint_interval needs a step_counter")
        self._checkpoint = checkpoint
        self._directory = os.fspath(directory)
        self._max_to_keep = max_to_keep
        self._keep_hours = keep_checkpoint_every_n_hours
        self._prefix = os.path.join(self._directory, checkpoint_name)
        self._step_counter = step_counter
        self._checkpoint_interval = checkpoint_interval
        self._last_step = None
        self._init_fn = init_fn
        os.makedirs(self._directory, exist_ok=True)
        for stray in glob.glob(os.path.join(glob.escape(self._directory),
                                            f".{glob.escape(checkpoint_name)}-*.tmp")):
            try:  # left by a save that was killed (see Note [Checkpoint state file])
                os.unlink(stray)
            except OSError:
                pass
        state = _read_state(self._directory)
        self._kept = {}  # path -> timestamp, oldest first
        if state is None:
            self._last_preserved = _now()
        else:
            self._last_preserved = state.get("last_preserved_timestamp", _now())
            for p, t in zip(state["all"], state["timestamps"]):
                p = _resolve(self._directory, p)
                if os.path.isfile(p):
                    self._kept[p] = t

    @property
    def directory(self):
        return self._directory

    @property
    def checkpoint(self):
        return self._checkpoint

    @property
    def checkpoint_interval(self):
        return self._checkpoint_interval

    @property
    def checkpoints(self):
        """The paths of the managed checkpoints, oldest first."""
        return list(self._kept)

    @property
    def latest_checkpoint(self):
        """The newest managed checkpoint's path, or None."""
        return next(reversed(self._kept), None) if self._kept else None

    def save(self, checkpoint_number=None, check_interval=True, options=None):
        """Writes a new checkpoint ('checkpoint_name-N', N the checkpoint's
        save_counter or `checkpoint_number`), deletes the ones beyond
        `max_to_keep`; returns its path (None when skipped by the interval)."""
        if self._checkpoint_interval is not None and check_interval:
            step = int(self._step_counter.numpy() if hasattr(self._step_counter, "numpy")
                       else self._step_counter)
            if self._last_step is not None and step - self._last_step < \
                    self._checkpoint_interval:
                return None
            self._last_step = step
        counter = self._checkpoint.save_counter
        counter.assign_add(np.int64(1))
        if checkpoint_number is None:
            number = int(counter.numpy())
        else:
            number = int(checkpoint_number.numpy() if hasattr(checkpoint_number, "numpy")
                         else checkpoint_number)
        path = self._checkpoint.write(f"{self._prefix}-{number}", options)
        now = _now()
        self._kept.pop(path, None)
        self._kept[path] = now
        doomed = self._sweep()
        _write_state(self._directory, path, list(self._kept), list(self._kept.values()),
                     self._last_preserved)
        for p in doomed:  # after the state file no longer names them
            _format.remove_file(p)
        return path

    def _sweep(self):
        doomed = []
        if self._max_to_keep is None:
            return doomed
        while len(self._kept) > self._max_to_keep:
            path = next(iter(self._kept))
            timestamp = self._kept.pop(path)
            if (self._keep_hours is not None
                    and timestamp - self._last_preserved >= self._keep_hours * 3600.0):
                self._last_preserved = timestamp  # kept, no longer managed
                continue
            doomed.append(path)
        return doomed

    def restore_or_initialize(self):
        """Restores the latest checkpoint and returns its path; with none,
        calls `init_fn` (if given) and returns None."""
        latest = self.latest_checkpoint
        if latest is not None:
            self._checkpoint.restore(latest)
            return latest
        if self._init_fn is not None:
            self._init_fn()
        return None

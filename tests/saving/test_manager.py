"""ft.train.CheckpointManager and ft.train.latest_checkpoint."""

import os

import numpy as np
import pytest

import fasttape as ft
from fasttape.errors import DataLossError
from fasttape.train import manager as manager_module


def _names(paths):
    return [os.path.basename(p) for p in paths]


def test_keeps_the_newest_max_to_keep(tmp_path):
    v = ft.Variable(0.0)
    mgr = ft.train.CheckpointManager(ft.train.Checkpoint(v=v), str(tmp_path), max_to_keep=2)
    assert mgr.latest_checkpoint is None and mgr.checkpoints == []
    for i in range(1, 5):
        v.assign(float(i))
        assert os.path.basename(mgr.save()) == f"ckpt-{i}"
    manager_module._format._REAPER.drain()
    assert _names(mgr.checkpoints) == ["ckpt-3", "ckpt-4"]
    assert sorted(f for f in os.listdir(tmp_path)) == ["checkpoint", "ckpt-3", "ckpt-4"]
    assert mgr.latest_checkpoint == ft.train.latest_checkpoint(str(tmp_path))
    w = ft.Variable(0.0)
    ft.train.Checkpoint(v=w).restore(mgr.latest_checkpoint).assert_consumed()
    assert float(w) == 4.0


def test_checkpoint_number_name_and_max_to_keep_none(tmp_path):
    mgr = ft.train.CheckpointManager(ft.train.Checkpoint(v=ft.Variable(1.0)), str(tmp_path),
                                     max_to_keep=None, checkpoint_name="model")
    for step in (10, 20, 30):
        mgr.save(checkpoint_number=ft.Variable(step, dtype="int64"))
    assert _names(mgr.checkpoints) == ["model-10", "model-20", "model-30"]


def test_a_new_manager_takes_over_the_directory(tmp_path):
    ckpt = ft.train.Checkpoint(v=ft.Variable(1.0))
    mgr = ft.train.CheckpointManager(ckpt, str(tmp_path), max_to_keep=3)
    for _ in range(3):
        mgr.save()
    open(tmp_path / ".ckpt-9.123.tmp", "wb").close()  # left by a killed save
    mgr2 = ft.train.CheckpointManager(ckpt, str(tmp_path), max_to_keep=2)
    assert not (tmp_path / ".ckpt-9.123.tmp").exists()
    assert _names(mgr2.checkpoints) == ["ckpt-1", "ckpt-2", "ckpt-3"]
    mgr2.save()
    assert _names(mgr2.checkpoints) == ["ckpt-3", "ckpt-4"]


def test_keep_checkpoint_every_n_hours(tmp_path, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(manager_module, "_now", lambda: clock[0])
    mgr = ft.train.CheckpointManager(ft.train.Checkpoint(v=ft.Variable(1.0)), str(tmp_path),
                                     max_to_keep=1, keep_checkpoint_every_n_hours=1.0)
    kept_files = []
    for i in range(1, 8):
        clock[0] += 1200.0  # 20 minutes apart
        mgr.save()
        kept_files.append(f"ckpt-{i}")
    manager_module._format._REAPER.drain()
    on_disk = sorted(f for f in os.listdir(tmp_path) if f.startswith("ckpt-"))
    # one checkpoint per hour survives beyond max_to_keep: at 1h, 2h (ckpt-3, ckpt-6), + newest
    assert on_disk == ["ckpt-3", "ckpt-6", "ckpt-7"]
    assert _names(mgr.checkpoints) == ["ckpt-7"]


def test_restore_or_initialize(tmp_path):
    v = ft.Variable(0.0)
    calls = []
    mgr = ft.train.CheckpointManager(ft.train.Checkpoint(v=v), str(tmp_path), max_to_keep=1,
                                     init_fn=lambda: calls.append(1))
    assert mgr.restore_or_initialize() is None and calls == [1]
    v.assign(3.0)
    path = mgr.save()
    v.assign(0.0)
    assert mgr.restore_or_initialize() == path and float(v) == 3.0


def test_checkpoint_interval(tmp_path):
    step = ft.Variable(0, dtype="int64")
    mgr = ft.train.CheckpointManager(ft.train.Checkpoint(step=step), str(tmp_path),
                                     max_to_keep=None, step_counter=step, checkpoint_interval=5)
    saved = []
    for i in range(12):
        step.assign(np.int64(i))
        if mgr.save() is not None:
            saved.append(i)
    assert saved == [0, 5, 10]
    with pytest.raises(ValueError, match="step_counter"):
        ft.train.CheckpointManager(ft.train.Checkpoint(step=step), str(tmp_path),
                                   checkpoint_interval=5)


def test_latest_checkpoint_of_an_empty_or_corrupt_directory(tmp_path):
    assert ft.train.latest_checkpoint(str(tmp_path)) is None
    (tmp_path / "checkpoint").write_bytes(b"{not json")
    with pytest.raises(DataLossError, match="checkpoint"):
        ft.train.latest_checkpoint(str(tmp_path))
    with pytest.raises(ValueError, match="max_to_keep"):
        ft.train.CheckpointManager(ft.train.Checkpoint(), str(tmp_path / "x"), max_to_keep=0)

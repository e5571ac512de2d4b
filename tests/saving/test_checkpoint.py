"""ft.train.Checkpoint: every kind of trackable object round-trips, names come
from the object graph, deferred restoration, the status's assertions."""

import gc
import inspect
import os
import warnings

import numpy as np
import pytest

import fasttape as ft
from fasttape.metrics import Metric
from fasttape.optimizers import Optimizer
from fasttape.train import _format

X = np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(3, 4)


def _values(objs):
    """{path: array} of every variable reachable from a checkpoint's objects."""
    from fasttape.train.checkpoint import _Graph

    return {k: np.array(v) for k, v in _Graph(ft.train.Checkpoint(**objs)).serialize()[0]}


def _scramble(objs):
    for v in _variables(objs):
        arr = np.array(v)
        v.assign((arr + 7).astype(arr.dtype) if arr.dtype != np.bool_ else ~arr)


def _variables(objs):
    from fasttape.train.checkpoint import _Graph

    g = _Graph(ft.train.Checkpoint(**objs))
    return [o for o in g.objects if isinstance(o, ft.Variable)]


def _step(model, opt):
    with ft.GradientTape() as tape:
        loss = ft.reduce_sum(model(X) ** 2)
    opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                            model.trainable_variables))


# --- every trackable kind ---------------------------------------------------------------

def _optimizers():
    out = []
    for name, cls in sorted(vars(ft.optimizers).items()):
        if isinstance(cls, type) and issubclass(cls, Optimizer) and cls is not Optimizer:
            kwargs = {"momentum": 0.9} if "momentum" in inspect.signature(cls).parameters else {}
            out.append(pytest.param(cls, kwargs, id=name))
    return out


@pytest.mark.parametrize("cls,kwargs", _optimizers())
def test_optimizer_slots_and_iterations_round_trip(cls, kwargs, tmp_path):
    model, opt = ft.layers.Dense(2), cls(learning_rate=0.05, **kwargs)
    for _ in range(2):
        _step(model, opt)
    objs = {"model": model, "optimizer": opt}
    saved = _values(objs)
    assert any(".OPTIMIZER_SLOT/optimizer/" in k for k in saved) or not opt.get_slot_names()
    path = ft.train.Checkpoint(**objs).save(str(tmp_path / "ckpt"))
    _scramble(objs)
    ft.train.Checkpoint(**objs).restore(path).assert_consumed()
    for k, v in _values(objs).items():
        np.testing.assert_array_equal(v, saved[k], err_msg=k)
    assert int(opt.iterations.numpy()) == 2


_METRIC_INPUTS = {
    "SparseCategoricalAccuracy": ([1, 0, 1], [[0.2, 0.8], [0.6, 0.4], [0.9, 0.1]]),
    "CategoricalAccuracy": ([[0, 1], [1, 0], [0, 1]], [[0.2, 0.8], [0.6, 0.4], [0.9, 0.1]]),
    "Mean": ([1.0, 2.0, 4.0],),
    "Sum": ([1.0, 2.0, 4.0],),
}


def _metrics():
    out = []
    for name, cls in sorted(vars(ft.metrics).items()):
        if (isinstance(cls, type) and issubclass(cls, Metric) and not name.startswith("_")
                and cls not in (Metric, ft.metrics.MeanMetricWrapper)):
            out.append(pytest.param(cls, id=name))
    return out


@pytest.mark.parametrize("cls", _metrics())
def test_metric_state_round_trips(cls, tmp_path):
    m = cls()
    m.update_state(*_METRIC_INPUTS.get(cls.__name__, ([0, 1, 1], [0.3, 0.6, 0.2])))
    result = np.array(m.result())
    ckpt = ft.train.Checkpoint(metric=m)
    path = ckpt.write(str(tmp_path / "m"))
    m.reset_state()
    ckpt.read(path).assert_consumed()
    np.testing.assert_array_equal(np.array(m.result()), result)


class _Net(ft.Module):
    def __init__(self):
        super().__init__()
        self.blocks = [ft.layers.Dense(3), ft.layers.Dense(2)]
        self.table = {"scale": ft.Variable(2.0), "shift": ft.Variable([1.0, -1.0])}
        self.norm = ft.layers.BatchNormalization()

    def __call__(self, x, training=False):
        for b in self.blocks:
            x = b(x)
        return self.norm(x, training=training) * self.table["scale"] + self.table["shift"]


def _kinds():
    """(name, make) -> {checkpoint kwarg: object}, built (variables exist)."""
    def net():
        n = _Net()
        n(X, training=True)
        return {"net": n}

    def layers():
        out = {}
        for cls in (ft.layers.Dense, ft.layers.LayerNormalization, ft.layers.Embedding):
            layer = cls(6, 3) if cls is ft.layers.Embedding else (
                cls(3) if cls is ft.layers.Dense else cls())
            layer(np.arange(6).reshape(2, 3) if cls is ft.layers.Embedding else X)
            out[cls.__name__.lower()] = layer
        return out

    def rnn():
        layer = ft.layers.LSTM(3)
        layer(X.reshape(1, 3, 4))
        return {"lstm": layer}

    def conv():
        layer = ft.layers.Conv2D(2, 3)
        layer(np.ones((1, 5, 5, 2), np.float32))
        return {"conv": layer}

    def plain():
        return {"v": ft.Variable([1, 2, 3]), "flag": ft.Variable(True),
                "d": ft.Variable(np.ones((2, 2), np.float64))}

    def nested():
        inner = ft.train.Checkpoint(w=ft.Variable([3.0]))
        return {"inner": inner, "list": [ft.Variable(1.0), [ft.Variable(2.0)]]}

    return [pytest.param(f, id=f.__name__) for f in (net, layers, rnn, conv, plain, nested)]


@pytest.mark.parametrize("make", _kinds())
def test_every_kind_round_trips(make, tmp_path):
    objs = make()
    saved = _values(objs)
    assert saved
    path = ft.train.Checkpoint(**objs).write(str(tmp_path / "c"))
    _scramble(objs)
    assert any(not np.array_equal(v, saved[k]) for k, v in _values(objs).items())
    ft.train.Checkpoint(**objs).read(path).assert_consumed()
    after = _values(objs)
    assert after.keys() == saved.keys()
    for k in saved:
        np.testing.assert_array_equal(after[k], saved[k], err_msg=k)
        assert after[k].dtype == saved[k].dtype


# --- names -------------------------------------------------------------------------------

def test_names_come_from_the_object_graph(tmp_path):
    net = _Net()
    net(X)
    opt = ft.optimizers.Adam()
    with ft.GradientTape() as tape:
        loss = ft.reduce_sum(net(X))
    opt.apply_gradients(zip(tape.gradient(loss, net.trainable_variables),
                            net.trainable_variables))
    keys = set(_format.read_checkpoint(
        ft.train.Checkpoint(model=net, optimizer=opt).write(str(tmp_path / "c"))).tensors)
    for key in ["model/blocks/0/kernel", "model/blocks/1/bias", "model/table/scale",
                "model/norm/moving_mean", "optimizer/iter", "save_counter",
                "model/blocks/0/kernel/.OPTIMIZER_SLOT/optimizer/m"]:
        assert key in keys, (key, sorted(keys))
    # variable names play no part: two layers named alike get distinct keys
    assert not any(":0" in k for k in keys)


def test_restore_matches_structure_not_variable_names(tmp_path):
    a = ft.layers.Dense(3, name="first")
    a(X)
    path = ft.train.Checkpoint(model=a).write(str(tmp_path / "c"))
    b = ft.layers.Dense(3, name="completely_different")
    b(X)
    ft.train.Checkpoint(model=b).read(path).assert_consumed()
    np.testing.assert_array_equal(np.array(b.kernel), np.array(a.kernel))


# --- save / write / read / restore --------------------------------------------------------

def test_save_numbers_files_and_counts(tmp_path):
    v = ft.Variable(1.0)
    ckpt = ft.train.Checkpoint(v=v)
    prefix = str(tmp_path / "ckpt")
    assert [os.path.basename(ckpt.save(prefix)) for _ in range(3)] == [
        "ckpt-1", "ckpt-2", "ckpt-3"]
    assert int(ckpt.save_counter.numpy()) == 3
    assert ft.train.latest_checkpoint(str(tmp_path)) == prefix + "-3"
    assert ckpt.write(prefix + "-x") == prefix + "-x"
    assert int(ckpt.save_counter.numpy()) == 3  # write does not count
    fresh = ft.train.Checkpoint(v=ft.Variable(0.0))
    fresh.restore(prefix + "-2").assert_consumed()
    assert int(fresh.save_counter.numpy()) == 2
    assert fresh.save(prefix).endswith("ckpt-3")  # numbering continues from the restore


def test_restore_accepts_a_directory_and_none(tmp_path):
    v = ft.Variable(5.0)
    ckpt = ft.train.Checkpoint(v=v)
    ckpt.save(str(tmp_path / "ckpt"))
    v.assign(0.0)
    ckpt.restore(str(tmp_path)).assert_consumed()
    assert float(v) == 5.0
    status = ckpt.restore(None)
    with pytest.raises(AssertionError):
        status.assert_consumed()
    (tmp_path / "sub").mkdir()
    with pytest.raises(FileNotFoundError, match="no checkpoint in directory"):
        ckpt.restore(str(tmp_path / "sub"))


def test_root_checkpoint_and_attribute_dependencies(tmp_path):
    model = ft.layers.Dense(2)
    model(X)
    ckpt = ft.train.Checkpoint(root=model)
    keys = set(_format.read_checkpoint(ckpt.write(str(tmp_path / "c"))).tensors)
    assert {"kernel", "bias"} <= keys
    ckpt2 = ft.train.Checkpoint()
    ckpt2.extra = ft.Variable([4.0])
    assert "extra" in _format.read_checkpoint(ckpt2.write(str(tmp_path / "d"))).tensors


def test_non_trackable_arguments_are_rejected():
    for bad in (3, "x", np.ones(2), object(), [1, 2]):
        with pytest.raises(TypeError, match="trackable"):
            ft.train.Checkpoint(thing=bad)
    with pytest.raises(ValueError, match="save_counter"):
        ft.train.Checkpoint(save_counter=ft.Variable(1))


def test_mismatched_shape_raises_before_assigning_anything(tmp_path):
    a, b = ft.Variable([1.0, 2.0]), ft.Variable(3.0)
    path = ft.train.Checkpoint(a=a, b=b).write(str(tmp_path / "c"))
    a2, b2 = ft.Variable([0.0, 0.0, 0.0]), ft.Variable(0.0)
    with pytest.raises(ValueError, match=r"'a'.*shape \(2,\).*shape \(3,\)") as e:
        ft.train.Checkpoint(a=a2, b=b2).read(path)
    assert str(tmp_path / "c") in str(e.value)
    assert float(b2) == 0.0  # nothing was assigned
    with pytest.raises(ValueError, match="dtype"):
        ft.train.Checkpoint(a=ft.Variable([1, 2]), b=ft.Variable(0.0)).read(path)


# --- deferred restoration -------------------------------------------------------------------

def test_deferred_restoration_of_a_model_and_optimizer_built_later(tmp_path):
    model, opt = _Net(), ft.optimizers.Adam(0.1)
    for _ in range(3):
        _step(model, opt)
    objs = {"model": model, "optimizer": opt}
    saved = _values(objs)
    path = ft.train.Checkpoint(**objs).save(str(tmp_path / "ckpt"))

    model2, opt2 = _Net(), ft.optimizers.Adam(0.1)
    status = ft.train.Checkpoint(model=model2, optimizer=opt2).restore(path)
    status.assert_existing_objects_matched()  # nothing built yet: fine
    with pytest.raises(AssertionError, match="not restored"):
        status.assert_consumed()
    model2(X)  # builds: the weights receive the saved values now
    np.testing.assert_array_equal(np.array(model2.blocks[0].kernel),
                                  saved["model/blocks/0/kernel"])
    with pytest.raises(AssertionError, match="OPTIMIZER_SLOT"):
        status.assert_consumed()
    opt2.build(model2.trainable_variables)  # slots made: restored
    status.assert_consumed()
    for k, v in _values({"model": model2, "optimizer": opt2}).items():
        np.testing.assert_array_equal(v, saved[k], err_msg=k)


def test_deferred_restoration_in_a_first_step(tmp_path):
    model, opt = ft.layers.Dense(2), ft.optimizers.SGD(0.1, momentum=0.9)
    _step(model, opt)
    path = ft.train.Checkpoint(model=model, optimizer=opt).write(str(tmp_path / "c"))
    _step(model, opt)
    expected = np.array(model.kernel)
    model2, opt2 = ft.layers.Dense(2), ft.optimizers.SGD(0.1, momentum=0.9)
    ft.train.Checkpoint(model=model2, optimizer=opt2).read(path)
    _step(model2, opt2)  # builds the layer, then makes the slots inside apply_gradients
    # the slot was restored when made, before its first update
    np.testing.assert_allclose(np.array(model2.kernel), expected, rtol=1e-6)


def test_assert_existing_objects_matched_names_the_extra_object(tmp_path):
    path = ft.train.Checkpoint(a=ft.Variable(1.0)).write(str(tmp_path / "c"))
    status = ft.train.Checkpoint(a=ft.Variable(0.0), b=ft.Variable(2.0)).read(path)
    with pytest.raises(AssertionError, match=r"not in the checkpoint: b"):
        status.assert_existing_objects_matched()


def test_one_warning_for_values_never_restored(tmp_path):
    model, opt = ft.layers.Dense(2), ft.optimizers.Adam()
    _step(model, opt)
    path = ft.train.Checkpoint(model=model, optimizer=opt).write(str(tmp_path / "c"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model2 = ft.layers.Dense(2)
        ft.train.Checkpoint(model=model2).read(path)
        del model2
        gc.collect()
    messages = [str(w.message) for w in caught if "never restored" in str(w.message)]
    assert len(messages) == 1, messages
    assert "optimizer" in messages[0] and "expect_partial" in messages[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model3 = ft.layers.Dense(2)
        ft.train.Checkpoint(model=model3).read(path).expect_partial()
        del model3
        gc.collect()
    assert not [w for w in caught if "never restored" in str(w.message)]


def test_a_complete_restore_leaves_no_hook_behind(tmp_path):
    model = ft.layers.Dense(2)
    model(X)
    path = ft.train.Checkpoint(model=model).write(str(tmp_path / "c"))
    model2 = ft.layers.Dense(2)
    ckpt = ft.train.Checkpoint(model=model2)
    ckpt.read(path)
    assert "_checkpoint_pending" in model2.__dict__
    model2(X)
    assert "_checkpoint_pending" not in model2.__dict__
    assert "_checkpoint_pending" not in ckpt.__dict__

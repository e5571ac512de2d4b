"""ft.onnx.export: every op of the table is either mapped, and checked
against onnxruntime on its op_db samples, or listed in ft.onnx.UNMAPPED;
an MLP, a convnet and an unrolled RNN run under onnxruntime with the traced
function's outputs for several batch sizes from one model with a dynamic
batch dim."""

import numpy as np
import pytest

import fasttape as ft
from fasttape._core.core import registered_ops
from fasttape.testing.op_db import OP_SPECS

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

RTOL, ATOL = 1e-5, 1e-6


def _session(model):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])


def _run(model, feeds):
    s = _session(model)
    return s.run(None, {i.name: v for i, v in zip(s.get_inputs(), feeds)})


def _close(got, ref, where):
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape, f"{where}: onnx {got.shape}, fasttape {ref.shape}"
    assert got.dtype == ref.dtype, f"{where}: onnx {got.dtype}, fasttape {ref.dtype}"
    if ref.dtype.kind == "f":
        np.testing.assert_allclose(got, ref, rtol=RTOL, atol=ATOL, err_msg=where)
    else:
        np.testing.assert_array_equal(got, ref, err_msg=where)


def test_every_op_is_mapped_or_listed():
    # custom-gradient entries are made per user function (family "custom",
    # attributes that are Python functions): they have no converter
    table = {op.name for op in registered_ops() if op.family != "custom"}
    mapped, unmapped = set(ft.onnx.CONVERTERS), set(ft.onnx.UNMAPPED)
    assert not mapped & unmapped, mapped & unmapped
    assert mapped | unmapped == table, {"neither": sorted(table - mapped - unmapped),
                                        "not in the table": sorted((mapped | unmapped) - table)}


def _samples(op):
    for spec in OP_SPECS:
        if op not in spec.covers and (spec.name != op or spec.composite):
            continue
        for i, (shapes, attrs) in enumerate(spec.samples()):
            yield spec, i, shapes, attrs


@pytest.mark.parametrize("op", sorted(ft.onnx.CONVERTERS))
def test_mapped_op_matches_onnxruntime(op):
    """Each op_db sample of a mapped op (float64 inputs made float32), traced
    with its tensors as arguments, exports, passes onnx.checker and gives
    the traced function's outputs under onnxruntime, or is refused with
    ONNXExportError naming the op; at least one sample is verified."""
    verified = 0
    for spec, i, shapes, attrs in _samples(op):
        args = [a.astype(np.float32) if a.dtype == np.float64 else a
                for a in spec.make_args(shapes, attrs, seed=0)]
        where = f"{spec.label} sample {i} {shapes} {attrs}"
        xs = [ft.constant(a) for a in args]
        f = ft.function(lambda *ts, attrs=attrs, spec=spec: spec.fn(*ts, **attrs))
        try:
            ref = f(*xs)
        except (TypeError, ValueError):
            continue  # a sample for float64 only
        cf = f.get_concrete_function(*xs)
        try:
            model = ft.onnx.to_model(cf)
        except ft.onnx.ONNXExportError as e:
            assert "op " in str(e) and "node '" in str(e), str(e)
            continue
        got = _run(model, [np.asarray(a) for a in args])
        refs = ft.nest.flatten(ref)
        refs = [r for r in refs if isinstance(r, ft.Tensor)]
        assert len(got) == len(refs), where
        for g, r in zip(got, refs):
            _close(g, r.numpy(), where)
        verified += 1
    assert verified, f"{op}: no op_db sample was verified against onnxruntime"


def test_unmapped_op_raises_naming_it(tmp_path):
    f = ft.function(lambda x: ft.math.atan2(x, x + 1.0),
                    input_signature=[ft.TensorSpec([None, 2])])
    with pytest.raises(ft.onnx.ONNXExportError, match=r"node 'Atan2' \(op atan2\).*no ONNX"):
        ft.onnx.export(f, tmp_path / "f.onnx")


def _check_batches(fn, make_input, path, batches=(1, 3, 8)):
    model = ft.onnx.export(fn, path)
    onnx.checker.check_model(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and not dims[0].dim_value, "the batch dim is not dynamic"
    s = _session(model)
    for b in batches:
        x = make_input(b)
        got = s.run(None, {s.get_inputs()[0].name: x})
        refs = ft.nest.flatten(fn(x))
        for g, r in zip(got, refs):
            _close(g, r.numpy(), f"batch {b}")


def test_mlp(tmp_path):
    rng = np.random.default_rng(0)
    layers = [(ft.Variable((rng.normal(size=(m, n)) / np.sqrt(m)).astype(np.float32)),
               ft.Variable(rng.normal(size=(n,)).astype(np.float32)))
              for m, n in ((20, 64), (64, 32), (32, 10))]

    @ft.function(input_signature=[ft.TensorSpec([None, 20], ft.float32)])
    def mlp(x):
        for i, (w, b) in enumerate(layers):
            x = x @ w + b
            x = ft.nn.relu(x) if i < len(layers) - 1 else x
        return ft.nn.softmax(x), ft.argmax(x, axis=-1)

    _check_batches(mlp, lambda b: rng.normal(size=(b, 20)).astype(np.float32),
                   tmp_path / "mlp.onnx")


def test_convnet(tmp_path):
    rng = np.random.default_rng(1)
    k1 = ft.Variable(rng.normal(size=(3, 3, 3, 8)).astype(np.float32) * 0.3)
    b1 = ft.Variable(rng.normal(size=(8,)).astype(np.float32))
    mean, var = (ft.Variable(rng.normal(size=(8,)).astype(np.float32)),
                 ft.Variable(rng.uniform(0.5, 2, size=(8,)).astype(np.float32)))
    beta, gamma = (ft.Variable(rng.normal(size=(8,)).astype(np.float32)),
                   ft.Variable(rng.uniform(0.5, 2, size=(8,)).astype(np.float32)))
    k2 = ft.Variable(rng.normal(size=(3, 3, 8, 4)).astype(np.float32) * 0.2)
    dense = ft.Variable(rng.normal(size=(4 * 4 * 4, 5)).astype(np.float32) * 0.2)

    @ft.function(input_signature=[ft.TensorSpec([None, 16, 16, 3], ft.float32)])
    def convnet(x):
        h = ft.nn.bias_add(ft.nn.conv2d(x, k1, strides=1, padding="SAME"), b1)
        h = ft.nn.batch_normalization(h, mean, var, beta, gamma, 1e-3)
        h = ft.nn.max_pool2d(ft.nn.relu(h), ksize=2, strides=2, padding="VALID")
        h = ft.nn.conv2d(h, k2, strides=2, padding="SAME")
        h = ft.nn.avg_pool2d(ft.nn.relu(h), ksize=3, strides=1, padding="SAME")
        return ft.nn.softmax(ft.reshape(h, [-1, 4 * 4 * 4]) @ dense)

    _check_batches(convnet, lambda b: rng.normal(size=(b, 16, 16, 3)).astype(np.float32),
                   tmp_path / "convnet.onnx")


def test_unrolled_rnn(tmp_path):
    rng = np.random.default_rng(2)
    steps, n_in, n_h = 6, 5, 7
    wx = ft.Variable(rng.normal(size=(n_in, n_h)).astype(np.float32) * 0.4)
    wh = ft.Variable(rng.normal(size=(n_h, n_h)).astype(np.float32) * 0.4)
    b = ft.Variable(rng.normal(size=(n_h,)).astype(np.float32))
    out = ft.Variable(rng.normal(size=(n_h, 3)).astype(np.float32))

    @ft.function(input_signature=[ft.TensorSpec([None, steps, n_in], ft.float32)])
    def rnn(x):
        h = ft.zeros_like(x[:, 0, :1]) * ft.zeros([1, n_h])  # (batch, n_h) zeros
        states = []
        for t in range(steps):
            h = ft.tanh(x[:, t, :] @ wx + h @ wh + b)
            states.append(h)
        return ft.nn.log_softmax(h @ out), ft.stack(states, axis=1)

    _check_batches(rnn, lambda b: rng.normal(size=(b, steps, n_in)).astype(np.float32),
                   tmp_path / "rnn.onnx")


def test_signature_given_at_export(tmp_path):
    """An ft.function without input_signature exports with the one given to
    export (None dims dynamic); without either, the error says what to pass."""
    f = ft.function(lambda x: ft.reduce_mean(ft.nn.sigmoid(x), axis=-1, keepdims=True))
    with pytest.raises(ValueError, match="input_signature"):
        ft.onnx.export(f, tmp_path / "f.onnx")
    model = ft.onnx.export(f, tmp_path / "f.onnx",
                           input_signature=[ft.TensorSpec([None, None, 4], ft.float32)])
    x = np.random.default_rng(3).normal(size=(2, 5, 4)).astype(np.float32)
    (got,) = _run(model, [x])
    _close(got, f(x).numpy(), "signature at export")


def test_node_calling_python_is_refused(tmp_path, monkeypatch):
    from fasttape.graph import Operation

    f = ft.function(lambda x: ft.sin(x) * 2.0, input_signature=[ft.TensorSpec([None])])
    monkeypatch.setattr(Operation, "calls_python", property(lambda n: n.type == "sin"),
                        raising=False)
    with pytest.raises(ft.onnx.ONNXExportError, match=r"node 'Sin' \(op sin\).*calls Python"):
        ft.onnx.export(f, tmp_path / "f.onnx")


@pytest.mark.parametrize("opset", [13, 17, 18])
def test_reductions_across_opsets(opset):
    """Reductions take their axes as an attribute before opset 18 (ReduceSum:
    13) and as an input from 18 on."""
    def fn(x):
        return (ft.reduce_mean(x, axis=1), ft.reduce_max(x, axis=[0, 2], keepdims=True),
                ft.reduce_sum(x, axis=-1), ft.reduce_logsumexp(x), ft.nn.softmax(x, axis=1))

    f = ft.function(fn, input_signature=[ft.TensorSpec([None, 3, 4], ft.float32)])
    model = ft.onnx.to_model(f, opset=opset)
    assert model.opset_import[0].version == opset
    x = np.random.default_rng(opset).normal(size=(2, 3, 4)).astype(np.float32)
    for g, r in zip(_run(model, [x]), f(x)):
        _close(g, r.numpy(), f"opset {opset}")


def test_layers_model_deploys_both_ways(tmp_path):
    """A Sequential of layers (Dense, BatchNormalization, Dropout at
    inference), traced for inference, exports to ONNX and saves."""
    model = ft.Sequential([ft.layers.Dense(8, activation="relu"),
                           ft.layers.BatchNormalization(), ft.layers.Dropout(0.5),
                           ft.layers.Dense(3, activation="softmax")])
    x = np.random.default_rng(4).normal(size=(6, 5)).astype(np.float32)
    model(x)
    f = ft.function(lambda x: model(x, training=False),
                    input_signature=[ft.TensorSpec([None, 5], ft.float32)])
    (got,) = _run(ft.onnx.export(f, tmp_path / "m.onnx"), [x])
    _close(got, f(x).numpy(), "onnx")
    ft.saved_function.save(f, tmp_path / "m.ftsf")
    loaded = ft.saved_function.load(tmp_path / "m.ftsf")
    assert len(loaded.variables) == len(model.variables)
    np.testing.assert_array_equal(loaded(x[:2]).numpy(), f(x[:2]).numpy())

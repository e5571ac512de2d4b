"""ft.saved_function: every op of the table saves and loads with the same
results, loaded functions run in a process without the source, and what
cannot be data is refused naming the node (Note [Saved function format])."""

import json
import os
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fasttape as ft
from fasttape import nest
from fasttape.errors import InvalidSavedFunctionError
from fasttape.testing.op_db import OP_SPECS
from tests.function.test_executor_ops import _same, _stateful

CASES = [pytest.param(spec, shapes, attrs, id=f"{spec.label}-{i}")
         for spec in OP_SPECS for i, (shapes, attrs) in enumerate(spec.samples())]


@pytest.mark.parametrize("spec,shapes,attrs", CASES)
def test_every_op_sample_saves_and_loads(spec, shapes, attrs, tmp_path):
    """Each op_db sample, traced with its tensors as arguments, round-trips
    through a file and gives the traced function's results exactly."""
    args = spec.make_args(shapes, attrs, seed=0)
    xs = [ft.constant(a) for a in args]
    f = ft.function(lambda *ts: spec.fn(*ts, **attrs))
    expected = f(*xs)
    path = tmp_path / "f.ftsf"
    ft.saved_function.save(f, path)
    loaded = ft.saved_function.load(path)
    out = loaded(*xs)
    if _stateful(spec, attrs):
        for o, r in zip(nest.flatten(out), nest.flatten(expected)):
            assert o.dtype == r.dtype and tuple(o.shape) == tuple(r.shape), spec.label
        return
    _same(out, expected, f"{spec.label} (loaded)")
    # the plan's fast path (positional eager tensors) gives the same
    _same(loaded.signatures["serving_default"](*xs), expected, f"{spec.label} (fast path)")


def _mlp():
    rng = np.random.default_rng(0)
    w1 = ft.Variable(rng.normal(size=(4, 8)).astype(np.float32), name="dense/kernel")
    b1 = ft.Variable(np.zeros(8, np.float32), name="dense/bias")
    w2 = ft.Variable(rng.normal(size=(8, 3)).astype(np.float32), name="out/kernel",
                     trainable=False)

    @ft.function(input_signature=[ft.TensorSpec([None, 4], ft.float32)])
    def predict(x):
        h = ft.nn.relu(x @ w1 + b1)
        return {"probs": ft.nn.softmax(h @ w2), "logits": h @ w2, "classes": 3}

    return predict, (w1, b1, w2)


def test_structure_variables_and_dynamic_batch(tmp_path):
    predict, (w1, b1, w2) = _mlp()
    path = tmp_path / "mlp.ftsf"
    ft.saved_function.save(predict, path)
    loaded = ft.saved_function.load(path)
    assert [v.name for v in loaded.variables] == [v.name for v in (w1, b1, w2)]
    assert [v.name for v in loaded.trainable_variables] == [w1.name, b1.name]
    for batch in (1, 5):
        x = np.random.default_rng(batch).normal(size=(batch, 4)).astype(np.float32)
        out, ref = loaded(x), predict(x)
        assert sorted(out) == ["classes", "logits", "probs"] and out["classes"] == 3
        _same(out, ref, f"batch {batch}")
        _same(loaded(x=x), ref, "by keyword")
    # the loaded function reads its variables at each call
    loaded.variables[1].assign(np.ones(8, np.float32))
    b1.assign(np.ones(8, np.float32))
    _same(loaded(x), predict(x), "after assign")
    with pytest.raises(ValueError, match="shape"):
        loaded(np.ones((2, 5), np.float32))


def test_several_signatures(tmp_path):
    f = ft.function(lambda x: ft.reduce_sum(x * 2.0, axis=-1))
    sigs = {"vector": [ft.TensorSpec([3], ft.float32)],
            "matrix": [ft.TensorSpec([None, 2], ft.float64)]}
    ft.saved_function.save(f, tmp_path / "f.ftsf", signatures=sigs)
    loaded = ft.saved_function.load(tmp_path / "f.ftsf")
    assert sorted(loaded.signatures) == ["matrix", "vector"]
    v = np.arange(3, dtype=np.float32)
    m = np.arange(6, dtype=np.float64).reshape(3, 2)
    _same(loaded.signatures["vector"](v), f(v), "vector")
    _same(loaded.signatures["matrix"](m), f(m), "matrix")
    with pytest.raises(TypeError, match="signatures"):
        loaded(v)


def test_file_is_safetensors(tmp_path):
    """Any safetensors reader reads the weights; the header holds the versioned graph."""
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    predict, variables = _mlp()
    path = tmp_path / "mlp.ftsf"
    ft.saved_function.save(predict, path)
    tensors = safetensors_numpy.load_file(str(path))
    for i, v in enumerate(variables):
        np.testing.assert_array_equal(tensors[f"variables/{i}"], v.numpy())
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    meta = json.loads(data[8:8 + n])["__metadata__"]
    assert meta["format"] == "fasttape.saved_function" and meta["version"] == "1"
    graph = json.loads(meta["graph"])
    ops = [node["op"] for node in graph["functions"]["serving_default"]["nodes"]]
    assert {"Placeholder", "ReadVariableOp", "matmul", "relu", "softmax"} <= set(ops)


_MAKE = """
import numpy as np, fasttape as ft, sys
rng = np.random.default_rng(1)
w = ft.Variable(rng.normal(size=(6, 16)).astype(np.float32))
c = ft.Variable(rng.normal(size=(16, 2)).astype(np.float32))

@ft.function(input_signature=[ft.TensorSpec([None, 6], ft.float32)])
def model(x):
    return ft.nn.log_softmax(ft.tanh(x @ w) @ c)

x = rng.normal(size=(7, 6)).astype(np.float32)
ft.saved_function.save(model, sys.argv[1])
np.save(sys.argv[2], model(x).numpy())
np.save(sys.argv[3], x)
"""

_USE = """
import numpy as np, fasttape as ft, sys
f = ft.saved_function.load(sys.argv[1])
np.save(sys.argv[2], f(np.load(sys.argv[3])).numpy())
"""


def test_loads_in_a_process_without_the_source(tmp_path):
    """The model's source directory is deleted before another process loads
    and runs the file with NumPy and fasttape only."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "make_model.py").write_text(textwrap.dedent(_MAKE))
    out = tmp_path / "out"
    out.mkdir()
    model, ref, x = out / "model.ftsf", out / "ref.npy", out / "x.npy"
    root = os.path.dirname(os.path.dirname(ft.__file__))
    env = dict(os.environ, PYTHONPATH=root)
    subprocess.run([sys.executable, str(src / "make_model.py"), model, ref, x], check=True,
                   env=env, cwd=src, timeout=120)
    for p in src.iterdir():
        p.unlink()
    src.rmdir()
    use = out / "use.py"
    use.write_text(textwrap.dedent(_USE))
    got = out / "got.npy"
    subprocess.run([sys.executable, "-I", "-c",
                    f"import sys; sys.path.insert(0, {root!r}); sys.argv = ['use', "
                    f"{str(model)!r}, {str(got)!r}, {str(x)!r}]; "
                    f"exec(open({str(use)!r}).read())"],
                   check=True, cwd=out, timeout=120)
    np.testing.assert_array_equal(np.load(got), np.load(ref))


def test_attribute_without_data_form_is_refused(tmp_path):
    f = ft.function(lambda x: ft.reduce_sum(x, axis=0))
    cf = f.get_concrete_function(ft.TensorSpec([2, 3]))
    node = next(n for n in cf.graph.get_operations() if n.type == "reduce_sum")
    node.attrs = (lambda: 0,) + tuple(node.attrs[1:])
    with pytest.raises(TypeError, match=rf"node '{node.name}' \(reduce_sum\).*function"):
        ft.saved_function.save(cf, tmp_path / "f.ftsf")
    assert not (tmp_path / "f.ftsf").exists()


def test_node_calling_python_is_refused(tmp_path, monkeypatch):
    """A node whose table entry is marked as calling Python (graph.mark_python_call:
    py_func, deferred VJPs) is refused at save naming it, and such an entry
    is refused at load."""
    from fasttape import graph

    f = ft.function(lambda x: ft.sin(x) * 2.0)
    cf = f.get_concrete_function(ft.TensorSpec([3]))
    ft.saved_function.save(cf, tmp_path / "ok.ftsf")
    sin = next(n for n in cf.graph.get_operations() if n.type == "sin").op_def
    monkeypatch.setattr(graph, "_PYTHON_CALL_OPS", {sin.index}, raising=False)
    with pytest.raises(ValueError, match=r"node 'Sin' \(sin\).*calls back into Python"):
        ft.saved_function.save(cf, tmp_path / "f.ftsf")
    with pytest.raises(InvalidSavedFunctionError, match=r"ok\.ftsf.*'sin' is not an op"):
        ft.saved_function.load(tmp_path / "ok.ftsf")


def test_oversized_and_wrong_version_files(tmp_path):
    f = ft.function(lambda: ft.zeros([3, 4]))
    f()
    ft.saved_function.save(f, tmp_path / "ok.ftsf")
    data = (tmp_path / "ok.ftsf").read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    graph = json.loads(header["__metadata__"]["graph"])

    def write(name, header, graph):
        header = dict(header, __metadata__=dict(header["__metadata__"],
                                                graph=json.dumps(graph)))
        head = json.dumps(header).encode()
        p = tmp_path / name
        p.write_bytes(struct.pack("<Q", len(head)) + head + data[8 + n:])
        return p

    node = next(x for x in graph["functions"]["serving_default"]["nodes"] if x["op"] == "zeros")
    node["attrs"][0] = {"t": "tuple", "v": [1 << 40, 1 << 20]}
    node["outputs"][0]["shape"] = [1 << 40, 1 << 20]
    p = write("big.ftsf", header, graph)
    with pytest.raises(InvalidSavedFunctionError, match=r"big\.ftsf.*zeros.*max_tensor_bytes"):
        ft.saved_function.load(p)
    wrong = dict(header, __metadata__=dict(header["__metadata__"], version="2"))
    p = write("v2.ftsf", wrong, json.loads(header["__metadata__"]["graph"]))
    with pytest.raises(InvalidSavedFunctionError, match=r"v2\.ftsf.*version '2'.*upgrade"):
        ft.saved_function.load(p)
    with pytest.raises(InvalidSavedFunctionError, match="missing.ftsf.*cannot be read"):
        ft.saved_function.load(tmp_path / "missing.ftsf")


def test_fuzzed_files_give_one_clear_error(tmp_path):
    """10,000 truncated, bit-flipped, oversized-shape, wrong-version and
    hostile files (tests/deploy/fuzz_saved_function.py, seeded) each load or
    raise InvalidSavedFunctionError naming the file; run in a subprocess so
    that a crash, a hang or a large allocation shows."""
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    env = dict(os.environ, PYTHONPATH=root, OPENBLAS_NUM_THREADS="1")
    done = subprocess.run([sys.executable, os.path.join(here, "fuzz_saved_function.py"),
                           "10000", "0", str(tmp_path)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["n_failures"] == 0, report["failures"]
    assert report["n"] == 10_000
    refused = sum(v for k, v in report["counts"].items() if k.endswith("refused"))
    assert refused > 9_000, report["counts"]
    for kind in ("truncated", "bit-flipped", "oversized shape", "wrong version",
                 "hostile graph", "hostile container", "header length", "garbage"):
        assert report["counts"].get(f"{kind}: refused", 0) > 500, (kind, report["counts"])
    assert report["slowest"] < 2.0, report          # no input takes long (no hang)
    assert report["maxrss_mb"] < 1024, report       # nothing near a large allocation


def test_assigns_in_a_traced_function_run_after_loading(tmp_path):
    """A traced function that updates its variables (a counter, a running
    mean) saves its assigns; the loaded function updates the loaded variables."""
    count = ft.Variable(0.0)
    mean = ft.Variable(np.zeros(3, np.float32))

    @ft.function(input_signature=[ft.TensorSpec([3], ft.float32)])
    def update(x):
        count.assign_add(1.0)
        mean.assign(mean + (x - mean) / count)
        return mean * 1.0

    ft.saved_function.save(update, tmp_path / "f.ftsf")
    loaded = ft.saved_function.load(tmp_path / "f.ftsf")
    xs = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    for x in xs:
        _same(loaded(x), update(x), "step")
    np.testing.assert_allclose(loaded.variables[1].numpy(), xs.mean(0), rtol=1e-6)
    assert float(loaded.variables[0].numpy()) == 4.0


@pytest.mark.parametrize("amsgrad", [False, True])
def test_a_saved_train_step_with_fused_adam(tmp_path, amsgrad):
    """A traced Adam step (ResourceApplyAdam nodes: Note [Fused updates]) saves
    and loads: the loaded step updates its loaded variables and slots as the
    original does; a file whose node names a slot of another shape is refused."""
    rng = np.random.default_rng(0)
    w = ft.Variable(rng.normal(size=(3, 2)).astype(np.float32))
    opt = ft.optimizers.Adam(0.1, amsgrad=amsgrad)

    @ft.function(input_signature=[ft.TensorSpec([4, 3], ft.float32)])
    def step(x):
        with ft.GradientTape() as t:
            loss = ft.reduce_sum(ft.tanh(x @ w) ** 2)
        opt.apply_gradients([(t.gradient(loss, w), w)])
        return loss

    ft.saved_function.save(step, tmp_path / "f.ftsf")
    graph = step.get_concrete_function().graph
    assert [n.type for n in graph.get_operations()].count("ResourceApplyAdam") == 1
    loaded = ft.saved_function.load(tmp_path / "f.ftsf")
    for x in rng.normal(size=(3, 4, 3)).astype(np.float32):
        _same(loaded(x), step(x), "loss")
    by_name = {v.name: v.numpy() for v in loaded.variables}
    for v in [w] + [opt.get_slot(w, s) for s in ("m", "v") + (("vhat",) if amsgrad else ())]:
        np.testing.assert_array_equal(by_name[v.name], v.numpy())

    # a hostile file: the node's slot m swapped for `iterations` (an int64 scalar)
    data = (tmp_path / "f.ftsf").read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    graph = json.loads(header["__metadata__"]["graph"])
    nodes = graph["functions"]["serving_default"]["nodes"]
    counter = next(x for x in nodes if x["op"] == "AssignAdd")["attrs"][0]  # iterations += 1
    next(x for x in nodes if x["op"] == "ResourceApplyAdam")["attrs"][1] = counter
    header["__metadata__"]["graph"] = json.dumps(graph)
    head = json.dumps(header).encode()
    (tmp_path / "bad.ftsf").write_bytes(struct.pack("<Q", len(head)) + head + data[8 + n:])
    with pytest.raises(InvalidSavedFunctionError, match=r"bad\.ftsf.*ResourceApplyAdam.*slot"):
        ft.saved_function.load(tmp_path / "bad.ftsf")
    # and one naming the variable as its own slot (the loop would write one buffer twice)
    node = next(x for x in nodes if x["op"] == "ResourceApplyAdam")
    node["attrs"][1] = node["attrs"][0]
    header["__metadata__"]["graph"] = json.dumps(graph)
    head = json.dumps(header).encode()
    (tmp_path / "bad2.ftsf").write_bytes(struct.pack("<Q", len(head)) + head + data[8 + n:])
    with pytest.raises(InvalidSavedFunctionError, match=r"bad2\.ftsf.*one variable twice"):
        ft.saved_function.load(tmp_path / "bad2.ftsf")


def test_constants_folded_at_load_are_bounded(tmp_path, monkeypatch):
    """A small file whose graph computes a large constant (folded when the
    plan compiles) is refused before the plan allocates it."""
    from fasttape import saved_function

    f = ft.function(lambda x: x + ft.reduce_sum(ft.ones([64, 64])))
    one = np.array(1.0, np.float32)
    f(one)
    ft.saved_function.save(f, tmp_path / "f.ftsf")
    assert float(ft.saved_function.load(tmp_path / "f.ftsf")(one)) == 4097.0
    monkeypatch.setattr(saved_function, "MAX_FOLDED_BYTES", 64 * 64 * 4 - 1)
    with pytest.raises(InvalidSavedFunctionError, match=r"f\.ftsf.*ones.*computed from constants"):
        ft.saved_function.load(tmp_path / "f.ftsf")

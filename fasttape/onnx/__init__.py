"""`ft.onnx.export`: a traced function as an ONNX model (extra `fasttape[onnx]`).

    @ft.function(input_signature=[ft.TensorSpec([None, 784], ft.float32)])
    def predict(x):
        return model(x)

    ft.onnx.export(predict, "model.onnx")
    # onnxruntime.InferenceSession("model.onnx").run(None, {"x": batch})

The exporter walks the trace's graph (fasttape/graph.py) node by node:
placeholders become the model's inputs, Const nodes and the variables read
(their current values) initializers, and every op node goes through its
converter in `CONVERTERS` (fasttape/onnx/_converters.py), which emits ONNX
nodes with `onnx.helper`. The model is checked by `onnx.checker.check_model`.

Note [Dynamic dims in ONNX export]
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
The exporter traces with the signature's TensorSpecs themselves, so a None
dim stays unknown (None) in every static shape of the graph, exactly as
ft.function does with an input_signature; it never traces a concrete shape
and marks it symbolic afterwards (which would bake the example batch size
into reshapes and constants). A None dim of an input becomes an ONNX
`dim_param` named "<input>_dim<i>" ("x_dim0"); output dims unknown to the
shape rules stay unnamed. Converters read only static facts the rules know
(ranks, known dims, attributes) and use Shape/ConstantOfShape where a dim is
unknown, so the model runs for any batch size. Code that makes a shape from
a dim of the input in Python (zeros([batch, n])) needs that dim known:
trace with it or use zeros_like.
"""

import numpy as np

from fasttape._core import core as _core

__all__ = ["CONVERTERS", "UNMAPPED", "ONNXExportError", "export", "to_model"]


class ONNXExportError(NotImplementedError):
    """A node of the traced graph has no ONNX conversion (the message names
    the node, its op and what is missing)."""


def _onnx():
    try:
        import onnx
        from onnx import helper
    except ImportError:
        raise ImportError("ft.onnx needs the onnx package: pip install 'fasttape[onnx]'") \
            from None
    return onnx, helper


from fasttape.onnx._converters import CONVERTERS, UNMAPPED, Context  # noqa: E402


def _concrete(f, input_signature):
    from fasttape.function import ConcreteFunction, Function

    if isinstance(f, ConcreteFunction):
        if input_signature is not None:
            raise TypeError("ft.onnx.export: input_signature is for an ft.function, not a "
                            "ConcreteFunction (it is already traced)")
        return f
    if not isinstance(f, Function):
        from fasttape.function import function
        f = function(f)
    if input_signature is not None:
        return f.get_concrete_function(*input_signature)
    if f.input_signature is not None:
        return f.get_concrete_function()
    raise ValueError(f"ft.onnx.export: {f!r} has no input_signature; pass input_signature= "
                     "(a list of ft.TensorSpec, None for dynamic dims such as the batch)")


def to_model(f, input_signature=None, opset=17, name=None):
    """The ONNX ModelProto of traced function `f` (see `export`)."""
    onnx, helper = _onnx()
    cf = _concrete(f, input_signature)
    ctx = Context(helper, int(opset))
    inputs = set(cf.inputs)
    graph_inputs = []
    for p in cf.inputs:
        pname = ctx.unique(p.op.name)
        ctx.bind(p, pname)
        graph_inputs.append(ctx.value_info(pname, p.dtype, p.shape, symbolic_prefix=pname))
    from fasttape.function import _plan_operations

    for node in _plan_operations(cf.graph, cf.outputs):
        kind = node.type
        where = f"node '{node.name}' (op {kind})" + _where(node)
        if kind == "Placeholder":
            if node.outputs[0] not in inputs:
                raise ONNXExportError(f"ft.onnx.export: {where} is a placeholder that is not "
                                      "an argument of the function")
            continue
        if kind in ("Const", "ReadVariableOp"):
            value = node.attrs[0]
            if kind == "ReadVariableOp":
                value = _core.tensor_value(value)
                hint = node.attrs[0].name.rsplit(":", 1)[0]
            else:
                hint = node.name
            ctx.bind(node.outputs[0], ctx.const(np.asarray(value), hint))
            continue
        conv = CONVERTERS.get(kind)
        if getattr(node, "calls_python", False):
            raise ONNXExportError(f"ft.onnx.export: {where} calls Python code when it runs "
                                  "(py_func, or a gradient deferred to run time); ONNX "
                                  "cannot hold it")
        if conv is None:
            raise ONNXExportError(
                f"ft.onnx.export: {where} has no ONNX mapping"
                + (" (it has no data form in ONNX: " + UNMAPPED[kind] + ")"
                   if kind in UNMAPPED else "")
                + "; ft.onnx.CONVERTERS lists the ops that export")
        try:
            outs = conv(ctx, node, [ctx.name(t) for t in node.inputs])
        except ONNXExportError as e:
            raise ONNXExportError(f"ft.onnx.export: {where}: {e}") from None
        outs = [outs] if isinstance(outs, str) else list(outs)
        for t, o in zip(node.outputs, outs):
            ctx.bind(t, o)
    graph_outputs = []
    for i, t in enumerate(cf.outputs):
        src = ctx.name(t)
        oname = f"output_{i}"
        ctx.nodes.append(helper.make_node("Identity", [src], [oname], name=f"{oname}_identity"))
        graph_outputs.append(ctx.value_info(oname, t.dtype, t.shape))
    graph = helper.make_graph(ctx.nodes, name or cf.name, graph_inputs, graph_outputs,
                              initializer=ctx.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ctx.opset)],
                              producer_name="fasttape")
    model.ir_version = min(model.ir_version, 8 if ctx.opset <= 17 else 9)
    onnx.checker.check_model(model, full_check=True)
    return model


def export(f, path, input_signature=None, opset=17):
    """Writes traced function `f` as an ONNX model to `path` and returns the
    ModelProto. `f`: an ft.function (traced with `input_signature`, a list
    of ft.TensorSpec, or its own) or a ConcreteFunction. None dims of the
    signature stay dynamic (Note [Dynamic dims in ONNX export]); variables
    are written with their current values; outputs are "output_0", ...
    Raises ONNXExportError naming the node and op for an op without an ONNX
    mapping (`CONVERTERS`; `UNMAPPED` says why for those known not to map).
    The model is checked with onnx.checker (full_check).

    ONNX Runtime runs the file on servers, in other languages (C, C++, C#,
    Java, JavaScript) and on accelerators (CUDA, TensorRT, DirectML, CoreML):
    see README.md, "Deploying with ONNX Runtime"."""
    onnx, _ = _onnx()
    model = to_model(f, input_signature, opset)
    onnx.save(model, str(path))
    return model


def _where(node):
    tb = node.traceback
    return f" (built at {tb[0]}:{tb[1]}: {tb[2]})" if tb else ""


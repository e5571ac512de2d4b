"""Control flow: `ft.cond` and `ft.while_loop`.

In eager mode they run Python: `cond` calls one branch, `while_loop` is a
Python loop, and a GradientTape records the ops that ran, so gradients of
every order follow the path taken. In a graph (`with g.as_default():`,
`ft.disable_eager_execution()`, a trace of `ft.function`) each call is one
node holding sub-graphs: the branch or body is traced once into an
`_FuncGraph` whose placeholders stand for the loop variables and for the
outer tensors it uses (captures, extra inputs of the node).

Note [Control-flow nodes]
~~~~~~~~~~~~~~~~~~~~~~~~~
A cond or while node is an ordinary node of the op table: its OpDef is a
variadic entry (made per number of outputs on first use, as custom
gradients' are, family "custom" so that enumerations of the table skip
them) whose one attribute is a spec holding the traced sub-graphs compiled
into Plans (fasttape/_core/_executor.pxi). Its forward runs the sub-plans on
arrays: cond runs the plan of the branch the predicate picks, while runs the
cond plan and the body plan until the condition is False or
`maximum_iterations` is reached. So Session.run and ft.function's executor
run control flow with no code of their own, nested control flow is a node
of a sub-graph, and the build-time checks (the op's shape and dtype rule
reads the spec) are the staging path's. Nodes:
- inputs: cond: the predicate, then the captures of both branches (each
  outer tensor once); while: the loop variables (flattened as ft.nest
  flattens), the captures of cond and body, then `maximum_iterations` when
  given; outputs: the flattened results (cond) or loop variables (while).
- a branch or body with a stateful node (a random op) makes a stateful node,
  which plans never fold, merge or drop.
- variables read inside a branch are read by a ReadVariableOp in the
  outermost graph, captured like any outer tensor (so Sessions and plans
  read them as usual); creating or assigning variables inside a branch
  raises at build time.
- output shapes: cond merges the branches' static shapes (differing dims
  become None, as TensorFlow does; different ranks raise); a while loop's
  outputs have the loop variables' shape invariants (their static shapes, or
  `shape_invariants`), which the body's results must fit (checked at build).
- at most _MAX_OUTPUTS outputs: the core gives a VJP at most 16 arguments
  (one per output gradient, plus the inputs and the spec). A gradient node
  (Note [Control-flow gradients]) has one output per float input, so more
  inputs than that make several gradient nodes, each re-running the forward.

Note [Control-flow gradients]
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
The VJP of a control-flow node re-runs its forward under a GradientTape
and returns the tape's gradients (the one sweep does the work):
- re-running the forward means interpreting the sub-graph eagerly: each node
  through its OpDef.apply, so the tape records exactly the ops of the branch
  taken and of every iteration that ran; nested control-flow nodes are
  applied as ops too and recurse. A while loop's trip count is whatever the
  re-run finds, which is what the forward found: gradients are right for
  data-dependent trip counts with no per-iteration stacks.
- with concrete values (the raw space: first order; the tensor space: the
  re-run is recorded by the outer tapes too, so higher orders work) the VJP
  computes the gradients at once.
- with symbolic values (`ft.gradients`, a tape inside `ft.function`) the VJP
  stages one gradient node (a deferred VJP: Note [Unknown dims in VJPs]) of
  the same kind, whose forward does the above on the run-time arrays and
  whose own VJP is again the re-run under a tape, so every order builds.
Why not TensorFlow's gradient graphs (cond of the branches' gradient graphs,
a backward while loop over stacks of per-iteration values): they need the
symbolic sweep inside the sub-graphs, accumulator stacks and their shape
invariants; the re-run costs one more forward pass (interpreted, about a
microsecond per op over NumPy's time) and no memory for the iterations. A
branch or body that draws random numbers would draw different ones when
re-run, so its gradient raises NotImplementedError instead of being wrong.
"""

import contextlib
import linecache
import threading

import numpy as np

from fasttape import errors as _errors
from fasttape import graph as _graph
from fasttape import nest
from fasttape._core import core as _core
from fasttape.tensor_shape import TensorShape

__all__ = ["cond", "while_loop"]

#: outputs of one control-flow node: a VJP takes g0..g<n-1>, the inputs and the spec
_MAX_OUTPUTS = 14
_VARIABLE_NODES = ("VariableV2", "Assign", "AssignAdd", "AssignSub")


# ------------------------------------------------------------ sub-graphs

class _FuncGraph(_graph.Graph):
    """The graph of a branch, body or loop condition: ops called while it is
    the default graph add nodes to it; an outer tensor used by one of them
    becomes a placeholder of this graph (a capture), fed from the outer
    graph by the control-flow node."""

    def __init__(self, outer, name):
        super().__init__()
        self._outer = outer
        self._fn_name = name
        self._captures = {}       # id(tensor of an enclosing graph) -> (tensor, placeholder)
        self.captured = []        # (tensor of the outer graph, placeholder), in order

    @property
    def outer_graph(self):
        return self._outer

    def root(self):
        g = self
        while isinstance(g, _FuncGraph):
            g = g._outer
        return g

    def encloses(self, graph):
        """True when `graph` is this graph or one it is nested in."""
        g = self
        while g is not None:
            if g is graph:
                return True
            g = getattr(g, "_outer", None)
        return False

    def placeholder_for(self, dtype, shape, name):
        static = shape if isinstance(shape, TensorShape) else TensorShape(shape)
        node = self._add_op("Placeholder", None, (), (np.dtype(dtype), static), name,
                            [None if static.rank is None else tuple(static)], [dtype])
        return node._outputs[0]

    def capture(self, x):
        """The placeholder standing for `x`, a tensor of an enclosing graph."""
        entry = self._captures.get(id(x))
        if entry is not None:
            return entry[1]
        g = x.op._graph
        if g is self._outer:
            outer_x = x
        elif isinstance(self._outer, _FuncGraph) and self._outer.encloses(g):
            outer_x = self._outer.capture(x)
        else:
            raise ValueError(f"{self._fn_name}: the tensor {x.name} is from a graph that does "
                             "not enclose this branch")
        ph = self.placeholder_for(x.dtype, x.shape, "capture")
        self._captures[id(x)] = (x, ph)
        self.captured.append((outer_x, ph))
        return ph

    def _add_op(self, op_type, op_def, inputs, attrs, name, shapes, dtypes, exact=False,
                scoped=True):
        if op_type in _VARIABLE_NODES:
            where = _errors.user_frame()
            raise NotImplementedError(
                f"{self._fn_name}: creating or assigning variables inside a branch of ft.cond "
                "or the body of ft.while_loop is not supported"
                + (f" (at {where[0]}:{where[1]}: {where[2]})" if where else "")
                + "; create variables outside, and return new values from the branch instead "
                "of assigning them")
        return super()._add_op(op_type, op_def, inputs, attrs, name, shapes, dtypes, exact,
                               scoped)


def _error(cls, what, detail, inputs=()):
    """An error of ft.cond / ft.while_loop naming the user's line."""
    return _errors.op_error(cls, what, inputs, detail)


def _fn_label(fn, role):
    """'true_fn (f at file.py:12: source)' for error messages."""
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    code = getattr(fn, "__code__", None)
    if code is None:
        return f"{role} ({name})"
    src = linecache.getline(code.co_filename, code.co_firstlineno).strip()
    return f"{role} ({name} at {code.co_filename}:{code.co_firstlineno}: {src})"


class _Branch:
    """A traced sub-graph: its graph, its placeholders (the explicit inputs
    then the captures), its flattened outputs and returned structure, and its
    compiled plan."""

    __slots__ = ("graph", "n_args", "inputs", "outputs", "structure", "label", "plan",
                 "stateful", "_needed")

    def finish(self):
        self.inputs = self.inputs + [ph for _, ph in self.graph.captured]
        self.plan = _core.build_plan(self.graph.get_operations(), self.inputs, self.outputs)
        self.stateful = any(n.op_def is not None and n.op_def.stateful
                            for n in self.graph.get_operations())
        self._needed = None

    @property
    def captured(self):
        return [x for x, _ in self.graph.captured]

    def needed_nodes(self):
        """The nodes the outputs need, in build order (the eager re-run)."""
        if self._needed is None:
            need = set()
            stack = [t.op for t in self.outputs]
            while stack:
                n = stack.pop()
                if id(n) in need:
                    continue
                need.add(id(n))
                stack.extend(t.op for t in n._inputs)
            self._needed = [n for n in self.graph.get_operations() if id(n) in need]
        return self._needed


def _trace(fn, outer, label, what, arg_specs=None, structure=None):
    """Traces fn into a new _FuncGraph nested in `outer`: with no arguments
    (a cond branch), or with placeholders of `arg_specs` ((dtype, shape)
    each) packed as `structure` and unpacked into fn's arguments."""
    b = _Branch()
    g = _FuncGraph(outer, label)
    b.graph = g
    b.label = label
    with g.as_default():
        phs = [g.placeholder_for(d, s, "loop_var") for d, s in (arg_specs or [])]
        if structure is None:
            out = fn()
        else:
            out = fn(*_unpack(nest.pack_sequence_as(structure, phs)))
        b.n_args = len(phs)
        flat = nest.flatten(out)
        if any(x is None for x in flat):
            raise _error(TypeError, what,
                     f"{label} returned None (in {_describe_structure(out)}); return tensors")
        b.outputs = [_as_inner(g, x) for x in flat]
    b.inputs = phs
    b.structure = out
    b.finish()
    return b


def _as_inner(g, x):
    """A result of a branch as a tensor of its graph."""
    if _core.is_symbolic(x) and x.op._graph is g:
        return x
    if _core.is_symbolic(x) and not isinstance(x, _core.Variable):
        return g.capture(x)
    return _graph._capture(g, x, "Const")


def _unpack(vals):
    """The arguments cond and body get: the loop variables unpacked when
    they are a list or tuple (namedtuples too), else the one value."""
    if isinstance(vals, (list, tuple)):
        return tuple(vals)
    return (vals,)


def _skeleton(s):
    """The structure of s with its leaves as '*' (lists and tuples alike)."""
    if isinstance(s, dict):
        return ("dict", tuple((k, _skeleton(s[k])) for k in sorted(s)))
    if isinstance(s, tuple) and hasattr(s, "_fields"):
        return (type(s).__name__, tuple(_skeleton(v) for v in s))
    if isinstance(s, (list, tuple)):
        return ("seq", tuple(_skeleton(v) for v in s))
    return "*"


def _describe_structure(s):
    if isinstance(s, dict):
        return "{" + ", ".join(f"{k!r}: {_describe_structure(s[k])}" for k in sorted(s)) + "}"
    if isinstance(s, tuple) and hasattr(s, "_fields"):
        return f"{type(s).__name__}(" + ", ".join(_describe_structure(v) for v in s) + ")"
    if isinstance(s, list):
        return "[" + ", ".join(_describe_structure(v) for v in s) + "]"
    if isinstance(s, tuple):
        inner = ", ".join(_describe_structure(v) for v in s)
        return f"({inner}{',' if len(s) == 1 else ''})"
    if isinstance(s, _core.Tensor):
        return "Tensor"
    return type(s).__name__


def _paths(s, prefix=""):
    """The path of each leaf of s, in nest.flatten's order."""
    if isinstance(s, dict):
        return [p for k in sorted(s) for p in _paths(s[k], f"{prefix}[{k!r}]")]
    if isinstance(s, (list, tuple)):
        return [p for i, v in enumerate(s) for p in _paths(v, f"{prefix}[{i}]")]
    return [prefix or "output"]


def _shape_str(t):
    return "<unknown>" if t.shape.rank is None else str(tuple(t.shape))


# ------------------------------------------------------------ the op table entries

_OPS = {}
_OPS_LOCK = threading.Lock()


def _forward(*args):
    return args[-1].forward(args[:-1])


def _shape_rule(shapes, spec):
    s = [None if x.rank is None else tuple(x) for x in spec.out_shapes]
    return s[0] if spec.n_out == 1 else tuple(s)


def _dtype_rule(dtypes, spec):
    return spec.out_dtypes[0] if spec.n_out == 1 else tuple(spec.out_dtypes)


def _control_flow_op(kind, n_out, stateful):
    """The table entry for control-flow nodes of `kind` ('cond', ...) with
    n_out outputs (made on first use: an op's number of outputs is fixed).
    Note [Control-flow nodes]."""
    key = (kind, n_out, stateful)
    with _OPS_LOCK:
        op = _OPS.get(key)
        if op is None:
            import inspect

            from fasttape.ops._registry import register

            def vjp(*args):
                return _vjp(args[n_out + 1], list(args[:n_out]), list(args[n_out]))

            params = [f"g{j}" for j in range(n_out)] + ["inputs", "spec"]
            vjp.__signature__ = inspect.Signature(
                [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in params])
            op = register(f"_{kind}_{n_out}{'_stateful' if stateful else ''}", "custom",
                          _forward, ("inputs",), vjp, attr_names=("spec",), n_out=n_out,
                          variadic=True, shape_fn=_shape_rule, dtype_fn=_dtype_rule,
                          stateful=stateful)
            _OPS[key] = op
    return op


def _build_node(spec, inputs, name, what):
    """Stages the node of `spec` on `inputs` (its graph is theirs or the
    default one) and returns its outputs as a list."""
    if spec.n_out > _MAX_OUTPUTS:
        raise _errors.op_error(ValueError, what, inputs,
                               f"{spec.n_out} outputs; a control-flow node has at most "
                               f"{_MAX_OUTPUTS} (flattened) outputs: stack tensors of one "
                               "shape into one")
    if spec.n_out == 0:
        raise _errors.op_error(ValueError, what, inputs, "no outputs: return at least one tensor")
    op = _control_flow_op(spec.node_type, spec.n_out, spec.stateful)
    with _graph.op_name(name or spec.node_type, op):
        out = op.apply(inputs, (spec,))
    out = [out] if spec.n_out == 1 else list(out)
    if _core.is_symbolic(out[0]):
        out[0].op._type = spec.node_type  # the node's type names what it does, not its arity
    return out


@contextlib.contextmanager
def _eager():
    """Ops run eagerly inside, even where the thread builds a graph (a
    Session entered with `with sess:`, ft.disable_eager_execution): the
    re-run of Note [Control-flow gradients] happens while a graph runs."""
    depth = 0
    while True:
        try:
            _core.exit_graph_mode()
        except RuntimeError:
            break
        depth += 1
    was_global = _core.staging()
    if was_global:
        _core.set_global_graph_mode(False)
    try:
        yield
    finally:
        if was_global:
            _core.set_global_graph_mode(True)
        for _ in range(depth):
            _core.enter_graph_mode()


def _interpret(branch, xs):
    """Runs the branch's graph on eager Tensors `xs` (one per placeholder),
    each node through its OpDef.apply so that tapes record it."""
    env = {id(p): x for p, x in zip(branch.inputs, xs)}
    for node in branch.needed_nodes():
        kind = node._type
        if kind == "Placeholder":
            continue
        if kind == "Const":
            env[id(node._outputs[0])] = _core.wrap_array(node.attrs[0])
            continue
        if node.op_def is None:
            raise NotImplementedError(f"{branch.label}: node '{node.name}' of type {kind} cannot "
                                      "be re-run for a gradient")
        outs = node.op_def.apply([env[id(t)] for t in node._inputs], node.attrs)
        if node.op_def.n_out == 1:
            outs = (outs,)
        for t, v in zip(node._outputs, outs):
            env[id(t)] = v
    return [env[id(t)] for t in branch.outputs]


def _run(branch, values):
    """branch's plan on arrays; an error of a node inside names the branch,
    the node and the line that built it (Session and plans add the
    control-flow node's own)."""
    try:
        return branch.plan.run(values)
    except Exception as e:
        _name_branch(e, branch)
        raise


def _name_branch(e, branch):
    if getattr(e, "ft_node", None) is not None and not getattr(e, "ft_branch", False):
        lines = str(e).split("\n")
        built = [ln.strip() for ln in lines if " was built at " in ln]
        e.ft_detail = f"{lines[0]} (in {branch.label}: {built[-1] if built else ''})"
        e.ft_branch = True


def _is_float(x):
    dt = x.dtype if isinstance(x, _core.Tensor) else np.asarray(x).dtype
    return dt.kind in "fc"


def _vjp(spec, gs, inputs):
    """The VJP of a control-flow node (or of its gradient node): Note
    [Control-flow gradients]."""
    if spec.stateful:
        raise NotImplementedError(
            f"{spec.what}: the gradient of a control-flow node whose branch or body draws "
            "random numbers is not supported (re-running it for the gradient would draw "
            "other numbers)")
    wrt = [i for i, x in enumerate(inputs) if _is_float(x)]
    if not wrt:
        return [None] * len(inputs)
    if any(_core.is_symbolic(x) for x in list(inputs) + gs if x is not None):
        # a gradient node per _MAX_OUTPUTS inputs (each re-runs the forward)
        present = [g is not None for g in gs]
        outs = []
        for k in range(0, len(wrt), _MAX_OUTPUTS):
            part = wrt[k:k + _MAX_OUTPUTS]
            gspec = _GradSpec(spec, part, present, [inputs[i] for i in part], len(inputs))
            outs += _build_node(gspec, list(inputs) + [g for g in gs if g is not None],
                                None, gspec.what)
    else:
        outs = spec.gradients(inputs, gs, wrt)
    res = [None] * len(inputs)
    for i, g in zip(wrt, outs):
        res[i] = g
    return res


class _Spec:
    """What a control-flow node runs (its one attribute): forward on arrays,
    eager on Tensors (recorded by tapes), gradients by re-running eager."""

    n_out = 0
    stateful = False
    what = "control flow"
    node_type = "control_flow"

    def forward(self, values):
        out = self.run(list(values))
        return out[0] if self.n_out == 1 else tuple(out)

    def gradients(self, inputs, gs, wrt):
        """Gradients of the inputs at positions `wrt` given the output
        gradients `gs` (None: zero), by re-running `eager` under a tape."""
        from fasttape.backprop import GradientTape

        with _eager():
            xs = [x if isinstance(x, _core.Tensor) else _core.convert_to_tensor(x)
                  for x in inputs]
            seen = set()
            for i in wrt:  # one input given twice: two sources, not one summed twice
                if id(xs[i]) in seen:
                    xs[i] = _identity(xs[i])
                seen.add(id(xs[i]))
            with GradientTape() as tape:
                for i in wrt:
                    tape.watch(xs[i])
                outs = self.eager(xs)
            targets, seeds = [], []
            for o, g in zip(outs, gs):
                if g is not None and _is_float(o):
                    targets.append(o)
                    seeds.append(g if isinstance(g, _core.Tensor) else _core.convert_to_tensor(g))
            if not targets:
                return [None] * len(wrt)
            return tape.gradient(targets, [xs[i] for i in wrt], output_gradients=seeds)


def _identity(x):
    from fasttape.ops.array_ops import identity

    return identity(x)


class _CondSpec(_Spec):
    node_type = "cond"
    __slots__ = ("true", "false", "t_index", "f_index", "n_out", "out_shapes", "out_dtypes",
                 "stateful", "what")

    def run(self, values):
        b, index = (self.true, self.t_index) if values[0] else (self.false, self.f_index)
        return _run(b, [values[i] for i in index])

    def eager(self, xs):
        b, index = ((self.true, self.t_index) if bool(_core.tensor_value(xs[0]))
                    else (self.false, self.f_index))
        return _interpret(b, [xs[i] for i in index])


class _WhileSpec(_Spec):
    node_type = "while_loop"
    __slots__ = ("cond", "body", "c_index", "b_index", "n_vars", "has_max", "n_out",
                 "out_shapes", "out_dtypes", "stateful", "what")

    def run(self, values):
        n = self.n_vars
        loop = values[:n]
        m = int(values[-1]) if self.has_max else -1
        c_run, b_run = self.cond.plan.run, self.body.plan.run
        c_extra = [values[i] for i in self.c_index]
        b_extra = [values[i] for i in self.b_index]
        i = 0
        running = self.cond
        try:  # the hot loop: See _run
            while i != m:
                running = self.cond
                if not c_run(loop + c_extra)[0]:
                    break
                running = self.body
                loop = b_run(loop + b_extra)
                i += 1
        except Exception as e:
            _name_branch(e, running)
            raise
        return loop

    def eager(self, xs):
        n = self.n_vars
        loop = list(xs[:n])
        m = int(_core.tensor_value(xs[-1])) if self.has_max else -1
        c_extra = [_core.tensor_value(xs[i]) for i in self.c_index]
        b_extra = [xs[i] for i in self.b_index]
        i = 0
        while i != m and _run(self.cond, [_core.tensor_value(t) for t in loop] + c_extra)[0]:
            loop = _interpret(self.body, loop + b_extra)
            i += 1
        return loop


class _GradSpec(_Spec):
    """The gradient node of a control-flow node in a graph (a deferred VJP:
    Note [Control-flow gradients]): inputs are the node's inputs, then its
    output gradients that are not None; outputs the gradients of its float
    inputs."""

    __slots__ = ("base", "wrt", "present", "n_in", "n_out", "out_shapes", "out_dtypes",
                 "what", "node_type")

    def __init__(self, base, wrt, present, xs, n_in):
        self.base = base
        self.wrt = wrt
        self.present = present
        self.n_in = n_in
        self.n_out = len(wrt)
        self.out_shapes = [TensorShape(None if x.shape.rank is None else tuple(x.shape))
                           if isinstance(x, _core.Tensor) else TensorShape(np.shape(x))
                           for x in xs]
        self.out_dtypes = [x.dtype if isinstance(x, _core.Tensor) else np.asarray(x).dtype
                           for x in xs]
        self.what = f"{base.what} gradient"
        self.node_type = f"{base.node_type}_grad"

    def _split(self, values):
        inputs = list(values[:self.n_in])
        it = iter(values[self.n_in:])
        gs = [next(it) if p else None for p in self.present]
        return inputs, gs

    def run(self, values):
        inputs, gs = self._split(values)
        grads = self.base.gradients(inputs, gs, self.wrt)
        return [np.zeros(np.shape(inputs[i]), np.asarray(inputs[i]).dtype) if g is None
                else _core.tensor_value(g) for i, g in zip(self.wrt, grads)]

    def eager(self, xs):
        inputs, gs = self._split(xs)
        grads = self.base.gradients(inputs, gs, self.wrt)
        from fasttape.ops.array_ops import zeros_like

        return [zeros_like(inputs[i]) if g is None else g for i, g in zip(self.wrt, grads)]


# ------------------------------------------------------------ cond

def _check_pred(pred, what):
    if pred.dtype != np.bool_:
        raise _errors.op_error(TypeError, what, (pred,),
                               f"pred must be a bool tensor, got dtype {pred.dtype.name} "
                               "(compare it: x > 0)", ("pred",))
    if pred.shape.rank not in (None, 0) and pred.shape.num_elements() != 1:
        raise _errors.op_error(ValueError, what, (pred,),
                               f"pred must be a scalar, got shape {_shape_str(pred)}", ("pred",))


def _merge_shapes(a, b):
    if a.rank is None or b.rank is None:
        return TensorShape(None)
    return TensorShape([x if x == y else None for x, y in zip(a, b)])


def _cond(pred, true_fn, false_fn, name, what, unpack_singleton):
    if not callable(true_fn) or not callable(false_fn):
        bad = "true_fn" if not callable(true_fn) else "false_fn"
        raise _error(TypeError, what, f"{bad} must be callable, got "
                        f"{_errors.describe(true_fn if bad == 'true_fn' else false_fn)}")
    if isinstance(pred, _core.Variable) and pred._graph_var is None and not _core.staging():
        pred = _core.tensor_value(pred)
    if not _core.is_symbolic(pred) and not (_core.staging() and isinstance(pred, _core.Variable)):
        # eager, or a predicate known when the graph is built: run Python
        out = true_fn() if pred else false_fn()
        return _singleton(out) if unpack_singleton else out
    if not _core.is_symbolic(pred):
        pred = _core.convert_to_tensor(pred)  # a variable while staging: a read node
    _check_pred(pred, what)
    outer = _graph._graph_for([pred])
    with (outer.as_default() if not _core.staging() else contextlib.nullcontext()):
        t = _trace(true_fn, outer, _fn_label(true_fn, "true_fn"), what)
        f = _trace(false_fn, outer, _fn_label(false_fn, "false_fn"), what)
        spec = _cond_spec(t, f, what, pred)
        captures, (t_index, f_index) = _union_captures([t, f], 1)
        spec.t_index, spec.f_index = t_index, f_index
        outs = _build_node(spec, [pred] + captures, name or "cond", what)
    result = nest.pack_sequence_as(t.structure, outs)
    return _singleton(result) if unpack_singleton else result


def _singleton(out):
    if isinstance(out, (list, tuple)) and not hasattr(out, "_fields") and len(out) == 1:
        return out[0]
    return out


def _union_captures(branches, offset):
    """The outer tensors the branches capture, each once, and per branch the
    node input index of each of its placeholders' values (after `offset`
    leading inputs; a branch's own arguments map to 0..n_args-1... by the
    caller)."""
    captures, index, per_branch = [], {}, []
    for b in branches:
        for x in b.captured:
            if id(x) not in index:
                index[id(x)] = offset + len(captures)
                captures.append(x)
    for b in branches:
        per_branch.append(list(range(b.n_args)) + [index[id(x)] for x in b.captured])
    return captures, per_branch


def _cond_spec(t, f, what, pred):
    if _skeleton(t.structure) != _skeleton(f.structure):
        raise _errors.op_error(
            ValueError, what, (pred,),
            f"the branches return different structures: {t.label} returns "
            f"{_describe_structure(t.structure)}, {f.label} returns "
            f"{_describe_structure(f.structure)}", ("pred",))
    spec = _CondSpec()
    spec.true, spec.false = t, f
    spec.n_out = len(t.outputs)
    spec.out_shapes, spec.out_dtypes = [], []
    for path, a, b in zip(_paths(t.structure), t.outputs, f.outputs):
        if a.dtype != b.dtype or (a.shape.rank is not None and b.shape.rank is not None
                                  and a.shape.rank != b.shape.rank):
            which = "dtypes" if a.dtype != b.dtype else "ranks"
            raise _errors.op_error(
                TypeError if which == "dtypes" else ValueError, what, (pred,),
                f"the branches return different {which} for {path}: {t.label} returns "
                f"shape {_shape_str(a)} dtype {a.dtype.name}, {f.label} returns shape "
                f"{_shape_str(b)} dtype {b.dtype.name}"
                + ("; use ft.cast" if which == "dtypes" else ""), ("pred",))
        spec.out_shapes.append(_merge_shapes(a.shape, b.shape))
        spec.out_dtypes.append(a.dtype)
    spec.stateful = t.stateful or f.stateful
    spec.what = what
    return spec


def cond(pred, true_fn=None, false_fn=None, name=None):
    """`true_fn()` if `pred` else `false_fn()`.

    In eager mode (and for a predicate known when a graph is built: a Python
    bool, an eager tensor) it calls one branch. With a symbolic `pred` (a
    graph, a trace of ft.function) both branches are traced once into
    sub-graphs and one node runs the branch `pred` picks when the graph
    runs; the branches must return the same structure of tensors with equal
    dtypes and ranks (dims that differ become unknown). Differentiable: See
    Note [Control-flow gradients].

    >>> import fasttape as ft
    >>> @ft.function
    ... def relu_or_square(x):
    ...     return ft.cond(ft.reduce_sum(x) > 0, lambda: ft.nn.relu(x), lambda: x * x)
    >>> relu_or_square(ft.constant([1.0, -2.0])).numpy()
    array([1., 4.], dtype=float32)
    """
    return _cond(pred, true_fn, false_fn, name, "cond", False)


def cond_v1(pred, true_fn=None, false_fn=None, strict=False, name=None, fn1=None, fn2=None):
    """TensorFlow 1's `tf.compat.v1.cond`: as ft.cond, with the old names
    `fn1`/`fn2`, and (unless `strict`) a branch result that is a list or
    tuple of one element returned as that element."""
    if fn1 is not None:
        if true_fn is not None:
            raise _error(TypeError, "cond", "fn1 and true_fn are the same argument; give one")
        true_fn = fn1
    if fn2 is not None:
        if false_fn is not None:
            raise _error(TypeError, "cond", "fn2 and false_fn are the same argument; give one")
        false_fn = fn2
    return _cond(pred, true_fn, false_fn, name, "cond", not strict)


# ------------------------------------------------------------ while_loop

def _fix_body_result(out, loop_vars, label, what):
    """body's result in loop_vars' structure (a single tensor for a loop
    over one variable in a list is accepted, as TensorFlow does)."""
    if (isinstance(loop_vars, (list, tuple)) and len(loop_vars) == 1
            and not isinstance(out, (list, tuple))):
        out = [out]
    if _skeleton(out) != _skeleton(loop_vars):
        raise _error(ValueError, what, f"{label} must return the structure of loop_vars "
                         f"{_describe_structure(loop_vars)}, got {_describe_structure(out)}")
    return out


def _repack(structure, flat):
    """flat packed as `structure` (lists and tuples keep loop_vars' types)."""
    return nest.pack_sequence_as(structure, flat)


def _while_loop(cond_fn, body, loop_vars, shape_invariants, maximum_iterations, name, what,
                same_structure):
    if not callable(cond_fn) or not callable(body):
        bad = "cond" if not callable(cond_fn) else "body"
        raise _error(TypeError, what, f"{bad} must be callable, got "
                        f"{_errors.describe(cond_fn if bad == 'cond' else body)}")
    flat = nest.flatten(loop_vars)
    if not flat:
        raise _error(ValueError, what, f"loop_vars must hold at least one tensor, got "
                         f"{_describe_structure(loop_vars)}")
    if maximum_iterations is not None and not _core.is_symbolic(maximum_iterations):
        m = np.asarray(_core.tensor_value(maximum_iterations)
                       if isinstance(maximum_iterations, _core.Tensor) else maximum_iterations)
        if m.ndim != 0 or m.dtype.kind not in "iu":
            raise _error(TypeError, what, f"maximum_iterations must be an int scalar, got "
                            f"{_errors.describe(maximum_iterations)}")
        if int(m) < 0:
            raise _error(ValueError, what, f"maximum_iterations must be >= 0, got {int(m)}")
    symbolic = _core.staging() or any(_core.is_symbolic(x) for x in flat) or \
        _core.is_symbolic(maximum_iterations)
    if not symbolic:
        return _eager_while(cond_fn, body, loop_vars, maximum_iterations, what, same_structure)
    outer = _graph._graph_for([x for x in flat if isinstance(x, _core.Tensor)]
                              + ([maximum_iterations] if maximum_iterations is not None
                                 and _core.is_symbolic(maximum_iterations) else []))
    with (outer.as_default() if not _core.staging() else contextlib.nullcontext()):
        return _graph_while(cond_fn, body, loop_vars, flat, shape_invariants,
                            maximum_iterations, name, what, same_structure, outer)


def _eager_while(cond_fn, body, loop_vars, maximum_iterations, what, same_structure):
    m = -1 if maximum_iterations is None else int(np.asarray(
        _core.tensor_value(maximum_iterations) if isinstance(maximum_iterations, _core.Tensor)
        else maximum_iterations))
    label = None
    vals = loop_vars
    i = 0
    while i != m and cond_fn(*_unpack(vals)):
        out = body(*_unpack(vals))
        if label is None:
            label = _fn_label(body, "body")
        vals = _repack(loop_vars, nest.flatten(_fix_body_result(out, loop_vars, label, what)))
        i += 1
    return vals if same_structure else _singleton(vals)


def _invariants(flat, shape_invariants, loop_vars, what):
    if shape_invariants is None:
        return [x.shape for x in flat]
    try:
        inv = _flatten_like(loop_vars, shape_invariants)
    except (TypeError, KeyError, ValueError):
        raise _error(ValueError, what, f"shape_invariants must have the structure of loop_vars "
                         f"{_describe_structure(loop_vars)} with a shape per tensor, got "
                         f"{shape_invariants!r}") from None
    out = []
    for path, x, s in zip(_paths(loop_vars, "loop_vars"), flat, inv):
        s = _graph._static_shape(what, s)
        if not s.is_compatible_with(x.shape) or (s.rank is not None and x.shape.rank is None):
            raise _error(ValueError, what, f"the shape invariant {s} of {path} does not fit its "
                             f"initial value's shape {_shape_str(x)}")
        out.append(s)
    return out


def _flatten_like(structure, s):
    """The leaves of `s` at the positions of `structure`'s leaves (a leaf of
    shape_invariants is a shape: a TensorShape, a list of dims or None)."""
    if isinstance(structure, dict):
        if not isinstance(s, dict) or sorted(s) != sorted(structure):
            raise ValueError("keys")
        return [x for k in sorted(structure) for x in _flatten_like(structure[k], s[k])]
    if isinstance(structure, (list, tuple)):
        if not isinstance(s, (list, tuple)) or isinstance(s, TensorShape) \
                or len(s) != len(structure):
            raise ValueError("length")
        return [x for a, b in zip(structure, s) for x in _flatten_like(a, b)]
    return [s]


def _graph_while(cond_fn, body, loop_vars, flat, shape_invariants, maximum_iterations, name,
                 what, same_structure, outer):
    g = _graph.get_default_graph()
    vars_in = [_graph._capture(g, x, "loop_var") if not _core.is_symbolic(x)
               or isinstance(x, _core.Variable) else x for x in flat]
    invariants = _invariants(vars_in, shape_invariants, loop_vars, what)
    specs = [(x.dtype, s) for x, s in zip(vars_in, invariants)]
    structure = _repack(loop_vars, vars_in)
    c = _trace(cond_fn, g, _fn_label(cond_fn, "cond"), what, specs, structure)
    b = _trace(body, g, _fn_label(body, "body"), what, specs, structure)
    if len(c.outputs) != 1:
        raise _errors.op_error(ValueError, what, vars_in,
                               f"{c.label} must return one bool scalar, got "
                               f"{_describe_structure(c.structure)}")
    p = c.outputs[0]
    if p.dtype != np.bool_ or (p.shape.rank not in (None, 0) and p.shape.num_elements() != 1):
        raise _errors.op_error(TypeError if p.dtype != np.bool_ else ValueError, what, vars_in,
                               f"{c.label} must return a bool scalar, got shape "
                               f"{_shape_str(p)} dtype {p.dtype.name}")
    out = _fix_body_result(b.structure, loop_vars, b.label, what)
    if out is not b.structure:  # a single tensor for [x]: same one output
        b.structure = out
    for path, x, r, s in zip(_paths(loop_vars, "loop_vars"), vars_in, b.outputs, invariants):
        if r.dtype != x.dtype:
            raise _errors.op_error(
                TypeError, what, vars_in,
                f"{b.label} returns dtype {r.dtype.name} for {path}, which enters the loop "
                f"with dtype {x.dtype.name}; use ft.cast")
        if not (s.rank is None or (r.shape.rank is not None and s.is_compatible_with(r.shape)
                                   and all(d is None or e is not None
                                           for d, e in zip(s, r.shape)))):
            raise _errors.op_error(
                ValueError, what, vars_in,
                f"{b.label} returns shape {_shape_str(r)} for {path}, which enters the loop "
                f"with shape {_shape_str(x)} (its shape invariant is {s}); pass "
                "shape_invariants= with None for the dims that change between iterations")
    spec = _WhileSpec()
    spec.cond, spec.body = c, b
    spec.n_vars = len(flat)
    spec.n_out = len(flat)
    spec.out_shapes = list(invariants)
    spec.out_dtypes = [x.dtype for x in vars_in]
    spec.stateful = c.stateful or b.stateful
    spec.what = what
    captures, (c_index, b_index) = _union_captures([c, b], len(flat))
    spec.c_index = c_index[c.n_args:]
    spec.b_index = b_index[b.n_args:]
    inputs = vars_in + captures
    spec.has_max = maximum_iterations is not None
    if spec.has_max:
        m = maximum_iterations
        if not _core.is_symbolic(m):
            m = _graph._capture(g, _core.convert_to_tensor(
                np.asarray(_core.tensor_value(m) if isinstance(m, _core.Tensor) else m,
                           np.int64)), "maximum_iterations")
        elif m.dtype.kind not in "iu" or m.shape.rank not in (None, 0):
            raise _errors.op_error(TypeError, what, (m,), "maximum_iterations must be an int "
                                   f"scalar, got shape {_shape_str(m)} dtype {m.dtype.name}")
        inputs.append(m)
    outs = _build_node(spec, inputs, name or "while", what)
    result = _repack(loop_vars, outs)
    return result if same_structure else _singleton(result)


def while_loop(cond, body, loop_vars, shape_invariants=None, parallel_iterations=10,
               back_prop=True, swap_memory=False, maximum_iterations=None, name=None):
    """Repeats `loop_vars = body(*loop_vars)` while `cond(*loop_vars)` is
    True (at most `maximum_iterations` times); returns the final loop
    variables, in the structure of `loop_vars`.

    `loop_vars` is a tensor or a (nested) list, tuple, namedtuple or dict of
    tensors; cond and body get a list or tuple unpacked into their
    arguments. In eager mode this is a Python loop. In a graph (or a trace of
    ft.function) cond and body are traced once into sub-graphs and one node
    loops when the graph runs; body must return the structure of loop_vars
    with the same dtypes and shapes that fit the shape invariants (each
    variable's static shape, or `shape_invariants`: None dims may change),
    checked when the graph is built. `parallel_iterations`, `back_prop` and
    `swap_memory` are accepted and have no effect. Differentiable, including
    loops whose trip count depends on the data: Note [Control-flow gradients].

    >>> import fasttape as ft
    >>> @ft.function
    ... def halve_until_small(x):
    ...     return ft.while_loop(lambda x: ft.reduce_max(x) > 1.0, lambda x: x / 2.0, [x])
    >>> halve_until_small(ft.constant([3.0, 8.0]))[0].numpy()
    array([0.375, 1.   ], dtype=float32)
    """
    return _while_loop(cond, body, loop_vars, shape_invariants, maximum_iterations, name,
                       "while_loop", True)


def while_loop_v1(cond, body, loop_vars, shape_invariants=None, parallel_iterations=10,
                  back_prop=True, swap_memory=False, name=None, maximum_iterations=None,
                  return_same_structure=False):
    """TensorFlow 1's `tf.compat.v1.while_loop`: as ft.while_loop, with its
    argument order, and (unless `return_same_structure`) a loop over a list
    of one variable returning that variable."""
    return _while_loop(cond, body, loop_vars, shape_invariants, maximum_iterations, name,
                       "while_loop", return_same_structure)

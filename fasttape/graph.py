"""Graphs: `ft.Graph`, `ft.placeholder`, symbolic tensors and the mode rules.

Inside `with g.as_default():` (or after `ft.disable_eager_execution()`) op
calls do not run: the one dispatch of the core (Note [One bind point] in
fasttape/_core/_mode.pxi) hands each call to `_stage` here, which adds a node
to the graph. A node is an `Operation` holding the op's table entry (the
OpDef), its input tensors and attributes; its outputs are symbolic
`ft.Tensor`s whose static shapes and dtypes come from the entry's shape and
dtype rules (`op_rules`), so every op of the table builds in a graph with no
per-op graph code, and bad shapes or dtypes raise at build time with the
error eager mode raises at the call (Note [One check, both modes]).

Note [Graph tensors and eager tensors]
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
- An eager Tensor (or NumPy array, or Python data) given to an op in a graph
  becomes a `Const` node holding its value, as TensorFlow 1 does; a Variable
  becomes a `ReadVariableOp` node that holds the variable, so that a run
  reads its value then, not at build time.
- An op on symbolic tensors goes to their graph even outside
  `with g.as_default():` (TensorFlow 1's rule); tensors of two graphs in one
  op raise ValueError.
- Node names are TensorFlow's: `x + y` is "add", `ft.matmul` "MatMul",
  `ft.reduce_sum` "Sum", a placeholder "Placeholder", a constant "Const"
  (`_TF_NAMES`; ops TensorFlow has no name for get their name in CamelCase),
  made unique as TensorFlow does ("add", "add_1", ...) and prefixed by the
  active `ft.name_scope`s. The outputs are "<node>:<index>".
"""

import contextlib
import re
import threading

import numpy as np

from fasttape import errors as _errors
from fasttape._core import core as _core
from fasttape.tensor_shape import TensorShape

__all__ = [
    "Graph",
    "Operation",
    "disable_eager_execution",
    "enable_eager_execution",
    "executing_eagerly",
    "get_default_graph",
    "name_scope",
    "placeholder",
    "reset_default_graph",
]

#: TensorFlow's default node names for the ops whose name is not their
#: CamelCase (the operators' lower-case names, TensorFlow's op types)
_TF_NAMES = {
    "add": "add", "subtract": "sub", "multiply": "mul", "divide": "truediv",
    "floordiv": "floordiv", "mod": "mod", "pow": "pow", "matmul": "MatMul",
    "negative": "Neg", "getitem": "strided_slice", "transpose": "transpose",
    "concat": "concat", "stack": "stack", "gather": "GatherV2", "gather_nd": "GatherNd",
    "boolean_mask": "boolean_mask", "one_hot": "one_hot", "einsum": "einsum",
    "inv": "MatrixInverse", "solve": "MatrixSolve", "det": "MatrixDeterminant",
    "slogdet": "LogMatrixDeterminant", "matrix_diag": "MatrixDiag", "tensor_diag": "Diag",
    "reduce_sum": "Sum", "reduce_mean": "Mean", "reduce_max": "Max", "reduce_min": "Min",
    "reduce_prod": "Prod", "reduce_all": "All", "reduce_any": "Any",
    "reduce_std": "reduce_std", "reduce_variance": "reduce_variance",
    "reduce_logsumexp": "ReduceLogSumExp", "reduce_euclidean_norm": "EuclideanNorm",
    "count_nonzero": "count_nonzero", "argmax": "ArgMax", "argmin": "ArgMin",
    "add_n": "AddN", "isnan": "IsNan", "isfinite": "IsFinite", "where": "SelectV2",
    "clip_by_value": "clip_by_value", "conv2d": "Conv2D", "conv1d": "conv1d",
    "conv2d_transpose": "conv2d_transpose", "max_pool2d": "MaxPool",
    "avg_pool2d": "AvgPool", "l2_loss": "L2Loss", "dropout": "dropout",
    "bias_add": "BiasAdd", "softmax_cross_entropy_with_logits":
    "softmax_cross_entropy_with_logits", "sigmoid_cross_entropy_with_logits": "logistic_loss",
    "sparse_softmax_cross_entropy_with_logits": "SparseSoftmaxCrossEntropyWithLogits",
    "moments": "moments", "batch_normalization": "batchnorm", "embedding_lookup":
    "embedding_lookup", "leaky_relu": "LeakyRelu", "log_softmax": "LogSoftmax",
    "logical_and": "LogicalAnd", "logical_or": "LogicalOr", "logical_not": "LogicalNot",
    "logical_xor": "LogicalXor", "bitwise_and": "BitwiseAnd", "bitwise_or": "BitwiseOr",
    "bitwise_xor": "BitwiseXor", "invert": "Invert", "segment_sum": "SegmentSum",
    "unsorted_segment_sum": "UnsortedSegmentSum", "tensor_scatter_nd_update":
    "TensorScatterUpdate", "tensor_scatter_nd_add": "TensorScatterAdd",
    "scatter_nd": "ScatterNd", "not_equal": "NotEqual", "greater_equal": "GreaterEqual",
    "less_equal": "LessEqual", "relu6": "Relu6", "log1p": "Log1p", "expm1": "Expm1",
    "atan2": "Atan2", "layer_norm": "LayerNorm",
    "zeros": "zeros", "ones": "ones", "zeros_like": "zeros_like", "ones_like": "ones_like",
    "fill": "Fill", "range": "range", "eye": "eye", "linspace": "LinSpace",
    "normal": "random_normal", "uniform": "random_uniform",
    "truncated_normal": "truncated_normal", "shuffle": "RandomShuffle",
    "_where_indices": "Where",
}


def _tf_name(op_name):
    name = _TF_NAMES.get(op_name)
    if name is None:
        name = "".join(part[:1].upper() + part[1:] for part in op_name.split("_") if part)
    return name


_VALID_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/>]*$")


class Operation:
    """A node of an ft.Graph: one call of an op (its table entry, `op_def`),
    its input tensors, its attributes and its output tensors."""

    __slots__ = ("_graph", "_name", "_type", "op_def", "_inputs", "attrs", "_outputs",
                 "_control_inputs", "traceback", "__weakref__")

    def __init__(self, graph, name, op_type, op_def, inputs, attrs):
        self._graph = graph
        self._name = name
        self._type = op_type
        self.op_def = op_def
        self._inputs = tuple(inputs)
        self.attrs = tuple(attrs)
        self._outputs = ()
        self._control_inputs = ()
        where = _errors.user_frame()
        self.traceback = where  # (file, line, source) of the user's call, or None

    @property
    def graph(self):
        return self._graph

    @property
    def name(self):
        return self._name

    @property
    def type(self):
        """The op's name in the table ('add', 'reduce_sum', ...), 'Placeholder',
        'Const' or 'ReadVariableOp'."""
        return self._type

    @property
    def inputs(self):
        return list(self._inputs)

    @property
    def outputs(self):
        return list(self._outputs)

    def values(self):
        return tuple(self._outputs)

    def run(self, feed_dict=None, session=None):
        """Runs this node in `session` or the default Session (fasttape/session.py)."""
        from fasttape.session import _eval

        _eval(self, feed_dict, session)

    @property
    def control_inputs(self):
        return list(self._control_inputs)

    def get_attr(self, name):
        """The value of attribute `name` of this node."""
        if self.op_def is not None and name in self.op_def.attr_names:
            return self.attrs[self.op_def.attr_names.index(name)]
        names = _SOURCE_ATTRS.get(self._type, ())
        if name in names:
            return self.attrs[names.index(name)]
        raise ValueError(f"Operation '{self._name}' ({self._type}) has no attribute {name!r}")

    @property
    def calls_python(self):
        """True for a node whose forward calls arbitrary Python code (py_func,
        py_function, numpy_function): a graph holding one cannot be saved or
        exported without its Python source (mark_python_call)."""
        return self.op_def is not None and self.op_def.index in _PYTHON_CALL_OPS

    def __repr__(self):
        return f"<ft.Operation '{self._name}' type={self._type}>"


#: indices of the table entries whose forward calls arbitrary Python code
_PYTHON_CALL_OPS = set()


def mark_python_call(op_def):
    """Marks table entry `op_def` as calling arbitrary Python code when it
    runs: its nodes have `calls_python` set, which saved functions and ONNX
    export refuse (Note [py_func nodes] in fasttape/script_ops.py)."""
    _PYTHON_CALL_OPS.add(op_def.index)


#: attribute names of the nodes that are not ops of the table
_SOURCE_ATTRS = {"Placeholder": ("dtype", "shape"), "Const": ("value",),
                 "ReadVariableOp": ("variable",)}


class Graph:
    """A dataflow graph: ops called inside `with g.as_default():` add nodes
    (`Operation`s) whose outputs are symbolic tensors.

    >>> import fasttape as ft
    >>> g = ft.Graph()
    >>> with g.as_default():
    ...     x = ft.placeholder(ft.float32, shape=(None, 3), name="x")
    ...     y = ft.reduce_sum(x * 2.0, axis=1)
    >>> [op.name for op in g.get_operations()]
    ['x', 'mul/y', 'mul', 'Sum']
    >>> y.shape
    (None,)
    """

    def __init__(self):
        self._ops = []
        self._by_name = {}
        self._used_names = {}
        self._lock = threading.RLock()
        self._finalized = False
        self._scope = threading.local()
        self.seed = None
        self._collections = {}

    # --- building ------------------------------------------------------------
    @contextlib.contextmanager
    def as_default(self):
        """Makes this graph the thread's default: ops called inside add nodes to it."""
        stack = _default_stack()
        stack.append(self)
        _core.enter_graph_mode()
        try:
            yield self
        finally:
            _core.exit_graph_mode()
            stack.pop()

    def _scope_stack(self):
        stack = getattr(self._scope, "names", None)
        if stack is None:
            stack = self._scope.names = []
        return stack

    def unique_name(self, name, mark_as_used=True):
        """`name` under the active name scopes, made unique as TensorFlow
        makes it: "add", "add_1", "add_2", ... skipping names taken (by a node
        or a name scope, compared case-insensitively), the case of `name` kept."""
        scope = "/".join(self._scope_stack())
        return self._unique(f"{scope}/{name}" if scope else name, mark_as_used)

    def _unique(self, name, mark_as_used=True):
        """Full name `name` made unique (no scope added)."""
        with self._lock:
            key = name.lower()
            i = self._used_names.get(key, 0)
            if mark_as_used:
                self._used_names[key] = i + 1
            if i > 0:
                base = key
                while key in self._used_names:
                    key = f"{base}_{i}"
                    i += 1
                if mark_as_used:
                    self._used_names[key] = 1
                name = f"{name}_{i - 1}"
        return name

    def get_name_scope(self):
        """The active name scope of this thread in this graph ('' at the top)."""
        return "/".join(self._scope_stack())

    def name_scope(self, name):
        """`ft.name_scope(name)` in this graph (enter it inside `g.as_default()`)."""
        return _name_scope_in(self, name)

    def _add_op(self, op_type, op_def, inputs, attrs, name, shapes, dtypes, exact=False,
                scoped=True):
        """A new node with outputs of static `shapes` and `dtypes` (lists),
        named `name` under the name scopes (`scoped`) made unique (`exact`:
        a name unique_name gave)."""
        self._check_not_finalized(name)
        if not _VALID_NAME.match(name):
            raise ValueError(f"'{name}' is not a valid node name: a name starts with a letter, "
                             "a digit or '.', then has letters, digits and _ . - / >")
        with self._lock:
            unique = (name if exact else self.unique_name(name) if scoped
                      else self._unique(name))
            node = Operation(self, unique, op_type, op_def, inputs, attrs)
            node._outputs = tuple(_core.symbolic_tensor(node, i, s, d)
                                  for i, (s, d) in enumerate(zip(shapes, dtypes)))
            self._ops.append(node)
            self._by_name[unique] = node
        return node

    def _check_not_finalized(self, what):
        if self._finalized:
            e = RuntimeError(f"Graph is finalized and cannot be modified (adding {what!r})")
            e.ft_passthrough = True  # not an argument error: Note [Errors at the public boundary]
            raise e

    def finalize(self):
        """Makes the graph read-only: adding a node raises RuntimeError."""
        self._finalized = True

    @property
    def finalized(self):
        return self._finalized

    # --- reading -------------------------------------------------------------
    def get_operations(self):
        """The nodes in the order they were added."""
        with self._lock:
            return list(self._ops)

    def get_operation_by_name(self, name):
        """The node named `name` ('add'): KeyError if there is none,
        ValueError for a tensor's name ('add:0')."""
        if not isinstance(name, str):
            raise TypeError(f"get_operation_by_name: operation names are str, "
                            f"not {type(name).__name__}")
        return self.as_graph_element(name, allow_tensor=False, allow_operation=True)

    def get_tensor_by_name(self, name):
        """The tensor '<node>:<output index>' ('add:0'): KeyError if there is
        none, ValueError for a node's name ('add')."""
        if not isinstance(name, str):
            raise TypeError(f"get_tensor_by_name: tensor names are str, "
                            f"not {type(name).__name__}")
        return self.as_graph_element(name, allow_tensor=True, allow_operation=False)

    def as_graph_element(self, obj, allow_tensor=True, allow_operation=True):
        """The tensor or node of this graph that `obj` (one of them, or its
        name) stands for, with TensorFlow's errors: TypeError for another kind
        of object, ValueError for an element of another graph or a name of the
        wrong kind, KeyError for a name not in the graph."""
        kinds = " or ".join(k for k, ok in (("Tensor", allow_tensor),
                                            ("Operation", allow_operation)) if ok)
        if isinstance(obj, str):
            return self._element_by_name(obj, allow_tensor, allow_operation)
        if allow_operation and isinstance(obj, Operation):
            if obj._graph is not self:
                raise ValueError(f"Operation {obj.name!r} is not an element of this graph")
            return obj
        if allow_tensor and _core.is_symbolic(obj):
            if obj.graph is not self:
                raise ValueError(f"Tensor {obj.name!r} is not an element of this graph")
            return obj
        what = "an eager ft.Tensor" if isinstance(obj, _core.Tensor) else type(obj).__name__
        raise TypeError(f"Can not convert {what} into a graph {kinds} of this graph")

    def _element_by_name(self, name, allow_tensor, allow_operation):
        if ":" in name:
            node_name, _, index = name.rpartition(":")
            if not allow_tensor:
                raise ValueError(f"The name {name!r} refers to a Tensor, not an Operation "
                                 "(an Operation's name has no ':<output index>')")
            if not index.isdigit() or not node_name:
                raise ValueError(f"The name {name!r} looks like a Tensor name, but is not a "
                                 "valid one: a tensor's name is '<op name>:<output index>'")
            with self._lock:
                node = self._by_name.get(node_name)
            if node is None:
                raise KeyError(f"The name {name!r} refers to a Tensor which does not exist: "
                               f"the operation {node_name!r} is not in the graph")
            i = int(index)
            if i >= len(node._outputs):
                raise KeyError(f"The name {name!r} refers to a Tensor which does not exist: "
                               f"the operation {node_name!r} has {len(node._outputs)} "
                               f"output{'s' if len(node._outputs) != 1 else ''}")
            return node._outputs[i]
        with self._lock:
            node = self._by_name.get(name)
        if not allow_operation:
            if node is not None:
                raise ValueError(f"The name {name!r} refers to an Operation, not a Tensor: a "
                                 f"tensor's name is '<op name>:<output index>' ({name}:0)")
            raise ValueError(f"The name {name!r} looks like an (invalid) Operation name, not "
                             "a Tensor name: a tensor's name is '<op name>:<output index>'")
        if node is None:
            raise KeyError(f"The name {name!r} refers to an Operation not in the graph")
        return node

    # --- collections (TensorFlow 1's, used by variables and summaries) ------
    def add_to_collection(self, name, value):
        self._collections.setdefault(name, []).append(value)

    def get_collection(self, name, scope=None):
        items = list(self._collections.get(name, ()))
        if scope is not None:
            items = [v for v in items if getattr(v, "name", "").startswith(scope)]
        return items

    def __repr__(self):
        return f"<ft.Graph with {len(self._ops)} nodes>"


# ------------------------------------------------------------- default graphs

_thread = threading.local()
_global = {"graph": None, "eager_enabled": False}
_global_lock = threading.Lock()


def _default_stack():
    stack = getattr(_thread, "graphs", None)
    if stack is None:
        stack = _thread.graphs = []
    return stack


def _global_graph():
    with _global_lock:
        if _global["graph"] is None:
            _global["graph"] = Graph()
        return _global["graph"]


def get_default_graph():
    """The thread's default graph: the innermost `with g.as_default():`, else
    the process's global graph (made on first use)."""
    stack = _default_stack()
    return stack[-1] if stack else _global_graph()


def reset_default_graph():
    """Replaces the global default graph with a new, empty one (not inside a
    `with g.as_default():` block)."""
    if _default_stack():
        raise AssertionError("reset_default_graph: called inside a `with g.as_default():` block")
    with _global_lock:
        _global["graph"] = Graph()


_VALID_SCOPE = re.compile(r"^[A-Za-z0-9_.\-/>]*$")


def name_scope(name, default_name=None, values=None):
    """Prefixes the names of the nodes made inside with `name/`, made unique
    as node names are ('layer', 'layer_1'); a name ending in '/' re-enters
    that scope as is; None or '' goes back to the top. In eager mode it only
    checks its argument. Yields the scope's name ('layer/'). `values`: the
    tensors the ops inside use; when they are symbolic, their graph is the
    one named (TensorFlow 1's rule, even outside `with g.as_default():`)."""
    name = default_name if name is None else name
    _check_scope_name(name)
    graph = None
    if values is not None:
        graph = _graph_for(_core_flatten(values))
    if graph is None and _core.staging():
        graph = get_default_graph()
    if graph is None:
        return _eager_scope(name)
    return _name_scope_in(graph, name)


def _core_flatten(values):
    if isinstance(values, (list, tuple)):
        return [v for x in values for v in _core_flatten(x)]
    return [values]


@contextlib.contextmanager
def _eager_scope(name):
    yield (name.rstrip("/") + "/") if name else ""


def _check_scope_name(name):
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name_scope: the name must be a str, got {type(name).__name__}")
    if name and not _VALID_SCOPE.match(name):
        raise ValueError(f"name_scope: {name!r} is not a valid scope name: letters, digits "
                         "and _ . - / > only")


@contextlib.contextmanager
def _name_scope_in(g, name):
    _check_scope_name(name)
    stack = g._scope_stack()
    if not name:
        saved = stack[:]
        stack.clear()
        try:
            yield ""
        finally:
            stack[:] = saved
        return
    if name.endswith("/"):  # a scope re-entered by its full name
        parts = name.rstrip("/").split("/")
        saved = stack[:]
        stack[:] = parts
        try:
            yield name
        finally:
            stack[:] = saved
        return
    saved = stack[:]
    stack[:] = g.unique_name(name).split("/")  # "a/b" opens two levels, as in TensorFlow
    try:
        yield "/".join(stack) + "/"
    finally:
        stack[:] = saved


# ------------------------------------------------------------------ the mode

def executing_eagerly():
    """True when ops run at once; False inside `with g.as_default():` or
    after `ft.disable_eager_execution()`."""
    return not _core.staging()


def disable_eager_execution():
    """Switches the process to graph mode: ops build nodes of the default
    graph, run with `ft.Session`. Only at program start: raises ValueError
    once an eager tensor has been made or eager execution enabled."""
    if _core.staging() and not _default_stack():
        return
    if _global["eager_enabled"] or _core.eager_used():
        why = ("ft.enable_eager_execution() was called" if _global["eager_enabled"]
               else "eager tensors or variables were created")
        raise ValueError(
            f"ft.disable_eager_execution: eager execution has already been used in this "
            f"program ({why}); it can be disabled only at program start, before any eager "
            "tensor exists")
    _core.set_global_graph_mode(True)


def enable_eager_execution(config=None, device_policy=None, execution_mode=None):
    """Eager execution, as at import: a no-op when it is on. Raises
    ValueError when graph nodes were already built in the default graph."""
    g = _global["graph"]
    if g is not None and g._ops:
        raise ValueError(
            "ft.enable_eager_execution: graph nodes were already built in the default graph "
            f"({len(g._ops)} node{'s' if len(g._ops) != 1 else ''}); enable eager execution at "
            "program start")
    _core.set_global_graph_mode(False)
    _global["eager_enabled"] = True


def _mark_import_done():
    """Called at the end of `import fasttape`: tensors made later count as
    eager use (Note [Eager use] in fasttape/_core/_tensor.pxi)."""
    _core.mark_import_done()


# ------------------------------------------------------------------ staging

def _graph_for(inputs):
    """The graph an op call stages into (Note [Graph tensors and eager tensors])."""
    if _core.staging():
        default = get_default_graph()
        encloses = getattr(default, "encloses", None)
        if encloses is not None:
            # a branch of ft.cond / body of ft.while_loop: tensors of the graphs
            # it is nested in are captured (Note [Control-flow nodes])
            for x in inputs:
                if _core.is_symbolic(x) and not encloses(x.op._graph):
                    raise ValueError(f"Tensor {x.name} must be from the same graph as the "
                                     "default graph or one it is nested in")
            return default
    graph = None
    for x in inputs:
        if _core.is_symbolic(x):
            g = x.op._graph
            if graph is None:
                graph = g
            elif g is not graph:
                raise ValueError(f"tensors of two graphs in one op: {x.name} is from another "
                                 "graph than the op's other inputs")
    if _core.staging():
        default = get_default_graph()
        if graph is not None and graph is not default:
            raise ValueError(f"Tensor {_first_symbolic(inputs).name} must be from the same graph "
                             "as the default graph (`with g.as_default():`)")
        return default
    return graph


def _first_symbolic(inputs):
    return next(x for x in inputs if _core.is_symbolic(x))


def stage_node(graph, op_type, name, inputs, attrs, shapes, dtypes):
    """A stateful node of `graph` that is not an op of the table (an assign, a
    summary write, an optimizer's fused update), named `name` made unique;
    `inputs` are (role, value) pairs, each captured as '<node>/<role>'."""
    with graph._lock:
        node_name = graph.unique_name(name)
        captured = tuple(_capture(graph, x, f"{node_name}/{role}") for role, x in inputs)
        return graph._add_op(op_type, None, captured, attrs, node_name, shapes, dtypes,
                             exact=True)


def _capture(graph, x, name):
    """An input of a node: symbolic tensors as they are, variables as read
    nodes, other values as Const nodes named `name`, a full name under the
    node's (TensorFlow's '<node>/<input name>': 'add/y', 'scope/add/y')."""
    if isinstance(x, _core.Variable):
        return _read_variable_node(graph, x)
    if _core.is_symbolic(x):
        if x.op._graph is not graph and hasattr(graph, "capture"):
            return graph.capture(x)  # an outer tensor in a control-flow branch
        return x
    if not isinstance(x, _core.Tensor):
        x = _core.convert_to_tensor(x)
    value = _core.tensor_value(x)
    return graph._add_op("Const", None, (), (value,), name, [value.shape], [value.dtype],
                         scoped=False)._outputs[0]


def _stage(op_def, inputs, attrs):
    """Adds a node for one op call (the core's staging hook: Note [One bind
    point]). Checks the inputs with the op's shape and dtype rules at build
    time, raising the error eager mode raises at the call."""
    graph = _graph_for(inputs)
    if graph is None:  # cannot happen: the core stages only with a graph or a symbolic input
        raise RuntimeError(f"{op_def.name}: no graph to stage into")
    graph._check_not_finalized(op_def.name)
    shapes = []
    dtypes = []
    for x in inputs:
        if _core.is_symbolic(x):
            s = x.shape
            shapes.append(None if s.rank is None else tuple(s))
            dtypes.append(x.dtype)
        elif isinstance(x, _core.Tensor):
            v = _core.tensor_value(x)
            shapes.append(v.shape)
            dtypes.append(v.dtype)
        else:
            v = np.asarray(x)
            shapes.append(v.shape)
            dtypes.append(v.dtype)
    try:
        shape, dtype = _core.op_rules(op_def, shapes, dtypes, attrs)
    except NotImplementedError:
        raise TypeError(f"{op_def.name}: this op has no shape and dtype rules, so it cannot "
                        "be built in a graph") from None
    except (TypeError, ValueError) as e:
        raise _errors.op_error(_core.rule_error_class(e), op_def.name, inputs, str(e),
                               None if op_def.variadic else op_def.input_names) from None
    if op_def.n_out == 1:
        shape, dtype = [shape], [dtype]
    with graph._lock:
        name = graph.unique_name(_pending_name(op_def))
        names = ([f"{name}/values_{i}" for i in range(len(inputs))] if op_def.variadic
                 else [f"{name}/{n}" for n in op_def.input_names])
        captured = [_capture(graph, x, n) for x, n in zip(inputs, names)]
        node = graph._add_op(op_def.name, op_def, captured, attrs, name, list(shape),
                             list(dtype), exact=True)
    outs = node._outputs
    return outs[0] if op_def.n_out == 1 else outs


def _pending_name(op_def):
    pending = getattr(_thread, "op_name", None)
    if pending is not None and (pending[1] is None or pending[1] is op_def):
        _thread.op_name = None
        return pending[0]
    return _tf_name(op_def.name)


@contextlib.contextmanager
def op_name(name, op_def=None):
    """The next node staged on this thread (the next node of table entry
    `op_def`, when given: a public function's own op, not the transposes or
    casts it stages around it) is named `name` (the `name=` argument of the
    public op functions)."""
    if name is None or not _core.staging():
        yield
        return
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    saved = getattr(_thread, "op_name", None)
    _thread.op_name = (name, op_def)
    try:
        yield
    finally:
        _thread.op_name = saved


# ------------------------------------------------------------ source nodes

def placeholder(dtype, shape=None, name=None):
    """A graph input fed when the graph runs (`Session.run(feed_dict=...)`):
    a symbolic tensor of `dtype` and `shape` (None: unknown rank; None dims:
    unknown). Graph mode only: raises RuntimeError in eager mode, as
    TensorFlow does."""
    if not _core.staging():
        raise RuntimeError(
            "ft.placeholder() is not compatible with eager execution: build it inside "
            "`with ft.Graph().as_default():` (or after ft.disable_eager_execution())")
    from fasttape.dtypes import as_dtype

    try:
        dt = as_dtype(dtype)
    except (TypeError, ValueError) as e:
        raise _errors.op_error(TypeError, "placeholder", (), f"dtype {dtype!r}: {e}") from None
    static = _static_shape("placeholder", shape)
    g = get_default_graph()
    if name is not None and not isinstance(name, str):
        raise TypeError(f"placeholder: name must be a str, got {type(name).__name__}")
    node = g._add_op("Placeholder", None, (), (dt, static), name or "Placeholder",
                     [None if static.rank is None else tuple(static)], [dt])
    return node._outputs[0]


def _static_shape(op_name, shape):
    """A shape argument of graph mode: None (unknown rank) or dims that are
    ints >= 0 or None (unknown), as an ft.TensorShape."""
    if shape is None:
        return TensorShape(None)
    if isinstance(shape, TensorShape):
        return shape
    if _core.is_symbolic(shape) or isinstance(shape, (str, bytes)):
        raise _errors.op_error(TypeError, op_name, (), f"shape must be a list of ints or None, "
                               f"got {_errors.describe(shape)}")
    if isinstance(shape, _core.Tensor):
        shape = _core.tensor_value(shape).tolist()
    try:
        dims = list(shape)
    except TypeError:
        dims = [shape]
    out = []
    for d in dims:
        if d is None:
            out.append(None)
            continue
        if (isinstance(d, _core.Tensor) and not _core.is_symbolic(d) and d.ndim == 0
                and d.dtype.kind in "iu"):
            d = int(d)
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)):
            raise _errors.op_error(TypeError, op_name, (), f"shape {dims!r}: a dimension must "
                                   f"be an int or None, got {_errors.describe(d)}")
        if d < 0:
            raise _errors.op_error(ValueError, op_name, (), f"shape {dims!r}: dimensions must "
                                   "be >= 0 (None for an unknown one)")
        out.append(int(d))
    return TensorShape(out)


def constant(value, name=None):
    """A Const node holding `value`, an eager Tensor (graph mode's ft.constant)."""
    g = get_default_graph()
    v = _core.tensor_value(value)
    return g._add_op("Const", None, (), (v,), name or "Const", [v.shape], [v.dtype])._outputs[0]


_core.set_special("stage", _stage)


def _read_variable_node(graph, v):
    """Variable `v` read in `graph` when it runs: a ReadVariableOp node (a
    graph variable only in its own graph: Note [Graph variables] in
    fasttape/session.py)."""
    if hasattr(graph, "capture"):  # in a control-flow branch: read in the outermost graph
        return graph.capture(_read_variable_node(graph.root(), v))
    info = getattr(v, "_graph_var", None)
    if info is not None and info.graph is not graph:
        raise ValueError(f"ReadVariableOp: the graph variable '{v.name}' belongs to another "
                         "graph than the op reading it")
    node = graph._add_op("ReadVariableOp", None, (), (v,), "ReadVariableOp",
                         [tuple(v.shape)], [v.dtype])
    return node._outputs[0]

"""Running graphs: `ft.Session` and graph-mode variables.

`Session.run(fetches, feed_dict)` runs the part of a graph (fasttape/graph.py)
that the fetches need, calling each node's table entry (`op_def.forward`) on
NumPy arrays, in the order the nodes were built, through the compiled Plan
that runs ft.function's traces (Note [Executor]). Variables made while
staging live in the graph as nodes (Note [Graph variables]); their values
live in each Session.

Note [Running a graph]
~~~~~~~~~~~~~~~~~~~~~~
- What runs: the nodes the fetches reach through inputs and control inputs,
  stopping at fed tensors (a fed tensor's producer does not run unless
  something else needs it). They run in the order they were built: that is
  a topological order (a node's inputs exist before it), and it is program
  order, so stateful nodes (assigns, random ops) and variable reads in one
  run happen as the program wrote them. The schedule is compiled once per
  (fetches, fed tensors) into a Plan (fasttape/_core/_executor.pxi: constants
  folded, duplicates merged, buffers reused) kept by the Session; a run is
  the Plan's C loop, with the variables' nodes as steps calling the
  Session (`_read`, `_assign`). Folding runs a constant subgraph when the
  plan is built; one that raises stays a step and raises when run.
- Before anything runs: every fetch and feed key is resolved (tensors,
  Operations, names "add:0" / "add"); every fed value is converted as
  `ft.convert_to_tensor(value, dtype=<the tensor's dtype>)` converts it
  (Python data take the dtype from their exact values; a NumPy float array
  of another width is rounded, as TensorFlow 1 does with
  `np.asarray(value, dtype)`: the ubiquitous float64 `np.random` batch fed to
  a float32 placeholder works; floats never become integers and integers out
  of range raise TypeError/ValueError naming the placeholder); its shape must
  match the static shape (None dims match anything); and every placeholder
  the schedule needs must be fed (InvalidArgumentError naming it).
- Errors while running: a forward that raises (a singular matrix, an index
  out of range) is re-raised as an error naming the node, its op, its input
  shapes and dtypes and the user's line that built the node ("built at
  file:line: source"), besides the `sess.run` line: the node, not only the
  run, is what the user must find. The class is the eager one (TypeError,
  ValueError), InvalidArgumentError for the rest.
- Results are NumPy arrays in the fetches' structure (lists, tuples,
  namedtuples, dicts); a fetched Operation gives None. A result that is a
  value the graph or the Session keeps (a Const's value, a variable's value,
  a fed array) or a view of one is copied, so writing to it never changes
  the graph or the variable.
- Output shapes are not checked against the static shapes while running
  (the shape rules are proven by tests/ops/test_abstract_eval.py); a Session
  with `_debug_checks = True` checks every node's outputs (the tests do).

Note [Graph variables]
~~~~~~~~~~~~~~~~~~~~~~
`ft.Variable(...)` while staging makes a graph variable (the core's
Variable.__init__ hands it to `_graph_variable` here):
- The ft.Variable object is the handle: it has the static shape and dtype,
  a name unique in the graph ("Variable:0"), `.graph`, `.op` (a node of type
  "VariableV2" whose output reads the value: `sess.run("Variable:0")`),
  `.initial_value` (a tensor of the graph: a Const for Python or eager data,
  or any graph tensor, e.g. `ft.random.normal(...)`, computed at init time)
  and `.initializer` (an "Assign" node). It holds no value: its `_value` is a
  stand-in of its shape and dtype that raises on any NumPy computation, so
  eager use of a graph variable raises naming it, at no cost to eager mode.
- Its value lives in each Session (a dict keyed by the variable): two
  Sessions on one graph have separate values, as in TensorFlow 1. Reading a
  variable the Session has not initialised raises FailedPreconditionError
  naming it.
- Reads are nodes: a graph variable (or an eager variable) used by an op
  while staging becomes a "ReadVariableOp" node (graph.py's `_capture`,
  `convert_to_tensor`, `v.read_value()`), read when the node runs.
- `v.assign(x)`, `assign_add`, `assign_sub` while staging (or on a graph
  variable) add stateful nodes "Assign", "AssignAdd", "AssignSub" whose
  output is the new value (`read_value=False`: the node). An assign to an
  eager variable in a graph updates the eager variable when the node runs.
- Order: stateful nodes and reads that run in one `run` run in program order
  (Note [Running a graph]). Fetching an assign does not run the assigns
  built before it: TensorFlow 1's semantics, which TF1 programs rely on (a
  `reset = v.assign(0)` built after `update = v.assign_add(x)` must not run
  the update and need its feeds; two train ops that both increment a global
  step must not run each other). An executor that runs every stateful node
  (`ft.function`, where TensorFlow 2 adds automatic control dependencies)
  gets them in build order from `stateful_nodes(graph)`.
- `ft.global_variables_initializer()` is a "NoOp" node whose control inputs
  are the initializers of the graph's "variables" collection; run, they run
  in program order, so an initial value that reads a variable made before it
  sees that variable's initial value.
"""

import contextlib
import threading

import numpy as np

from fasttape import errors as _errors
from fasttape import graph as _graph
from fasttape._core import core as _core
from fasttape.tensor_shape import TensorShape

__all__ = [
    "InteractiveSession",
    "Session",
    "get_default_session",
    "global_variables",
    "global_variables_initializer",
    "trainable_variables",
    "variables_initializer",
]

_ASSIGN_TYPES = {"assign": "Assign", "assign_add": "AssignAdd", "assign_sub": "AssignSub"}
_graph._SOURCE_ATTRS.update({"VariableV2": ("variable",), "Assign": ("variable",),
                             "AssignAdd": ("variable",), "AssignSub": ("variable",),
                             "NoOp": ()})


# ------------------------------------------------------------ graph variables

class _Unread(np.ndarray):
    """The stand-in `_value` of a graph variable: its shape and dtype, no
    memory (a broadcast zero), and any computation with it raises naming the
    variable. See Note [Graph variables]."""

    def _fail(self, *args, **kwargs):
        raise TypeError(
            f"the graph variable '{getattr(self, '_ft_name', '?')}' has no value outside a "
            "Session: use it in ops inside `with g.as_default():` and run them with "
            "ft.Session (sess.run(v) gives its value)")

    __array_ufunc__ = _fail
    __array_function__ = _fail
    __bool__ = _fail
    __float__ = _fail
    __int__ = _fail
    __index__ = _fail
    __getitem__ = _fail
    __iter__ = _fail
    reshape = _fail
    view = _fail
    copy = _fail
    astype = _fail
    tolist = _fail
    item = _fail

    def __repr__(self):
        return f"<value of graph variable '{getattr(self, '_ft_name', '?')}'>"

    __str__ = __repr__


def _stand_in(shape, dtype, name):
    base = np.broadcast_to(np.zeros((), dtype), shape)
    arr = np.ndarray.view(base, _Unread)
    arr._ft_name = name
    return arr


class _GraphVariable:
    """What a graph variable's handle knows: its graph, node, initializer,
    initial value and the stand-in `_value`."""

    __slots__ = ("graph", "name", "op", "initializer", "initial_value", "stand_in")


def _graph_variable(v, initial_value, trainable, name, dtype, shape):
    """The core's hook for ft.Variable(...) while staging: adds the
    variable's nodes to the default graph. See Note [Graph variables]."""
    g = _graph.get_default_graph()
    if name is not None and not isinstance(name, str):
        raise TypeError(f"ft.Variable: name must be a str, got {type(name).__name__}")
    if dtype is not None:
        from fasttape.dtypes import as_dtype

        dtype = np.dtype(as_dtype(dtype))
    if name is not None and name.endswith(":0"):  # a variable's full name, reused
        name = name[:-2]
    base = g.unique_name(name or "Variable")
    with _graph.name_scope(base + "/"):
        if callable(initial_value):
            initial_value = initial_value()
        init = initial_value
        if not _core.is_symbolic(init):
            init = _core.convert_to_tensor(init, dtype)
        if not _core.is_symbolic(init):
            init = _graph.constant(init, name="initial_value")
    if dtype is not None and init.dtype != dtype:
        raise TypeError(f"ft.Variable '{base}': the initial value {init.name} has dtype "
                        f"{init.dtype.name}, not the requested {dtype.name}; use ft.cast")
    static = init.shape
    if shape is not None:
        want = _graph._static_shape("Variable", shape)
        if not static.is_compatible_with(want):
            raise ValueError(f"ft.Variable '{base}': initial value of shape {static} does not "
                             f"match shape {want}")
        static = static.merge_with(want) if static.rank is not None else want
    if not static.is_fully_defined():
        raise ValueError(
            f"ft.Variable '{base}': the initial value {init.name} has the partially known "
            f"shape {static}; a graph variable needs a fully known shape (pass shape=)")
    shape_t = tuple(static)
    dt = init.dtype
    info = _GraphVariable()
    info.graph = g
    info.name = base + ":0"
    info.stand_in = _stand_in(shape_t, dt, info.name)
    info.initial_value = init
    info.op = g._add_op("VariableV2", None, (), (v,), base, [shape_t], [dt], exact=True)
    with _graph.name_scope(base + "/"):
        info.initializer = g._add_op("Assign", None, (init,), (v,), "Assign", [shape_t], [dt])
    g.add_to_collection("variables", v)
    if trainable:
        g.add_to_collection("trainable_variables", v)
    return info


def _graph_variable_value(v, what):
    raise TypeError(
        f"{what} needs the value of the graph variable '{v.name}' (shape {tuple(v.shape)}, "
        f"dtype {v.dtype.name}), which lives in a Session: sess.run(v) gives it")


def _variable_graph(v, what):
    """The graph an op on variable `v` goes to: its own (a graph variable),
    else the default graph (an eager variable captured while staging)."""
    info = v._graph_var
    if info is None:
        return _graph.get_default_graph()
    default = _graph.get_default_graph()
    if getattr(default, "root", None) is not None and default.root() is info.graph:
        return default  # a control-flow branch of its graph: the read is captured
    if _core.staging() and default is not info.graph:
        raise ValueError(f"{what}: the graph variable '{v.name}' belongs to another graph "
                         "than the default graph (`with g.as_default():`)")
    return info.graph


def _read_variable(v):
    """A ReadVariableOp node reading `v` when the graph runs (the core's
    'read_variable' hook: v.read_value(), convert_to_tensor(v) while staging)."""
    return _graph._read_variable_node(_variable_graph(v, "ReadVariableOp"), v)


def _update_variable(v, kind, value, name, read_value):
    """v.assign / assign_add / assign_sub while staging or on a graph
    variable: a stateful node (the core's 'update_variable' hook)."""
    what = f"Variable.{kind}"
    g = _variable_graph(v, what)
    if name is not None and not isinstance(name, str):
        raise TypeError(f"{what}: name must be a str, got {type(name).__name__}")
    shape, dtype = tuple(v.shape), v.dtype
    try:
        if _core.is_symbolic(value):
            if value.graph is not g:
                raise ValueError(f"the value {value.name} is from another graph than "
                                 f"variable '{v.name}'")
            if value.dtype != dtype:
                raise TypeError(f"value of dtype {value.dtype.name} for variable '{v.name}' of "
                                f"dtype {dtype.name}; use ft.cast")
            t = value
        else:
            t = _core.convert_like(value, dtype)
            if _core.is_symbolic(t):
                if t.dtype != dtype:
                    raise TypeError(f"value of dtype {t.dtype.name} for variable '{v.name}' "
                                    f"of dtype {dtype.name}; use ft.cast")
            elif t.dtype != dtype:
                t = _core.convert_to_tensor(value, dtype)
        ok = t.shape.is_compatible_with(TensorShape(shape))
        if not ok and t.shape.is_fully_defined() and t.shape.num_elements() == 1 == int(
                np.prod(shape)):
            ok = True
        if not ok:
            raise ValueError(f"value of shape {t.shape} dtype {t.dtype.name} does not match "
                             f"variable '{v.name}' of shape {shape} dtype {dtype.name}")
    except (TypeError, ValueError) as e:
        raise _errors.op_error(TypeError if isinstance(e, TypeError) else ValueError, what,
                               (v, value), str(e), ("variable", "value")) from None
    op_type = _ASSIGN_TYPES[kind]
    node = _graph.stage_node(g, op_type, name or op_type, [("value", t)], (v,), [shape],
                             [dtype])
    return node._outputs[0] if read_value else node


def stateful_nodes(graph):
    """The nodes of `graph` with side effects, in build order: random ops
    (their entry is flagged stateful) and assigns."""
    return [n for n in graph.get_operations()
            if n._type in _ASSIGN_TYPES.values()
            or (n.op_def is not None and n.op_def.stateful)]


_core.set_special("graph_variable", _graph_variable)
_core.set_special("graph_variable_value", _graph_variable_value)
_core.set_special("read_variable", _read_variable)
_core.set_special("update_variable", _update_variable)


def _graph_of(var_list):
    graphs = {v._graph_var.graph for v in var_list}
    if len(graphs) > 1:
        raise ValueError("variables_initializer: the variables belong to several graphs")
    if graphs:
        g = graphs.pop()
        if _core.staging() and _graph.get_default_graph() is not g:
            raise ValueError("variables_initializer: the variables belong to another graph "
                             "than the default graph")
        return g
    return _graph.get_default_graph()


def variables_initializer(var_list, name="init"):
    """An op that, run, initialises the graph variables of `var_list` from
    their initial values (in the order they were made). See Note [Graph
    variables]. In eager mode with no graph variable: None (nothing to do)."""
    var_list = list(var_list)
    for v in var_list:
        if not isinstance(v, _core.Variable):
            raise TypeError(f"variables_initializer: expects ft.Variables, got "
                            f"{_errors.describe(v)}")
        if v._graph_var is None:
            raise TypeError(f"variables_initializer: '{v.name}' is an eager variable (it is "
                            "initialised when made); only graph variables have initializers")
    if not var_list and not _core.staging():
        return None  # eager mode: variables are initialised when made (TensorFlow's no_op)
    g = _graph_of(var_list)
    node = g._add_op("NoOp", None, (), (), name or "init", [], [])
    node._control_inputs = tuple(v._graph_var.initializer for v in var_list)
    return node


def global_variables_initializer():
    """The op that initialises every variable of the default graph (its
    "variables" collection).

    >>> import fasttape as ft
    >>> g = ft.Graph()
    >>> with g.as_default():
    ...     v = ft.Variable([1.0, 2.0], name="v")
    ...     step = v.assign_add([1.0, 1.0])
    ...     init = ft.global_variables_initializer()
    >>> sess = ft.Session(graph=g)
    >>> sess.run(init)
    >>> sess.run([step, step * 2.0])
    [array([2., 3.], dtype=float32), array([4., 6.], dtype=float32)]
    """
    return variables_initializer(global_variables(), name="init")


def global_variables(scope=None):
    """The default graph's variables (collection "variables")."""
    return _graph.get_default_graph().get_collection("variables", scope)


def trainable_variables(scope=None):
    """The default graph's trainable variables (collection "trainable_variables")."""
    return _graph.get_default_graph().get_collection("trainable_variables", scope)


# ------------------------------------------------------------------ sessions

_K_OP, _K_CONST, _K_READ, _K_ASSIGN, _K_NOOP = range(5)
_KINDS = {"Const": _K_CONST, "ReadVariableOp": _K_READ, "VariableV2": _K_READ,
          "Assign": _K_ASSIGN, "AssignAdd": _K_ASSIGN, "AssignSub": _K_ASSIGN,
          "NoOp": _K_NOOP}
#: node kinds whose outputs are values the graph or the Session keeps
_HELD = (_K_CONST, _K_READ, _K_ASSIGN)


class Session:
    """Runs graphs: `sess.run(fetches, feed_dict)`. Holds the values of the
    graph's variables. See Note [Running a graph].

    >>> import fasttape as ft
    >>> g = ft.Graph()
    >>> with g.as_default():
    ...     x = ft.placeholder(ft.float32, shape=(None,), name="x")
    ...     y = x * 2.0
    >>> with ft.Session(graph=g) as sess:
    ...     sess.run(y, feed_dict={x: [1.0, 2.0]})
    array([2., 4.], dtype=float32)
    """

    def __init__(self, target="", graph=None, config=None):
        """`graph`: the graph to run (default: the default graph). `config`
        (TensorFlow's ConfigProto: devices, threads) is accepted and has no
        effect; `target` must be "" (no distributed runtime)."""
        if target not in ("", None):
            raise ValueError(f"Session: target={target!r}: fasttape runs in-process only "
                             "(target must be '')")
        if graph is None:
            graph = _graph.get_default_graph()
        if not isinstance(graph, _graph.Graph):
            raise TypeError(f"Session: graph must be an ft.Graph, got {_errors.describe(graph)}")
        self._graph = graph
        self._closed = False
        self._values = {}   # variable.ref() -> ndarray: the graph variables' values
        self._plans = {}
        self._contexts = []
        self._debug_checks = False

    @property
    def graph(self):
        return self._graph

    def close(self):
        """Frees the Session's variable values; run() then raises RuntimeError."""
        self._closed = True
        self._values.clear()
        self._plans.clear()

    def __enter__(self):
        """Makes this the default Session and its graph the default graph
        inside `with` (as TensorFlow 1); closes the Session at the end."""
        graph_ctx = self._graph.as_default()
        graph_ctx.__enter__()
        _session_stack().append(self)
        self._contexts.append(graph_ctx)
        return self

    def __exit__(self, *exc):
        graph_ctx = self._contexts.pop()
        _pop_session(self)
        graph_ctx.__exit__(*exc)
        self.close()
        return False

    @contextlib.contextmanager
    def as_default(self):
        """Makes this the default Session (for `t.eval()`, `op.run()`) inside
        `with`, without closing it at the end."""
        _session_stack().append(self)
        try:
            yield self
        finally:
            _pop_session(self)

    # --- fetches and feeds ---------------------------------------------------
    def _element(self, fetch):
        """A fetch as (node, output index), index None for an Operation."""
        g = self._graph
        if isinstance(fetch, str):
            try:
                fetch = g.as_graph_element(fetch)
            except (KeyError, ValueError) as e:
                raise ValueError(f"Session.run: fetch {fetch!r}: {e.args[0]}") from None
        if isinstance(fetch, _graph.Operation):
            if fetch._graph is not g:
                raise ValueError(f"Session.run: the fetch {fetch.name} is an Operation of "
                                 "another graph than the Session's")
            return fetch, None
        if isinstance(fetch, _core.Variable):
            info = fetch._graph_var
            if info is None or info.graph is not g:
                raise TypeError(f"Session.run: cannot fetch the variable '{fetch.name}': it is "
                                "not a variable of the Session's graph")
            return info.op, 0
        if _core.is_symbolic(fetch):
            if fetch.graph is not g:
                raise ValueError(f"Session.run: the fetch {fetch.name} is a Tensor of another "
                                 "graph than the Session's")
            return fetch.op, fetch.value_index
        raise TypeError(f"Session.run: fetch argument {_errors.describe(fetch)} ({fetch!r:.80}) "
                        "cannot be interpreted as a Tensor or an Operation of the graph")

    def _flatten(self, fetches, leaves):
        """A template of the fetches' structure; appends the leaves' elements."""
        if isinstance(fetches, dict):
            return ("dict", type(fetches),
                    [(k, self._flatten(v, leaves)) for k, v in fetches.items()])
        if isinstance(fetches, tuple) and hasattr(fetches, "_fields"):
            return ("namedtuple", type(fetches), [self._flatten(v, leaves) for v in fetches])
        if isinstance(fetches, (list, tuple)):
            return (type(fetches).__name__, type(fetches),
                    [self._flatten(v, leaves) for v in fetches])
        leaves.append(self._element(fetches))
        return ("leaf", len(leaves) - 1)

    def _rebuild(self, template, results):
        kind = template[0]
        if kind == "leaf":
            return results[template[1]]
        cls = template[1]
        if kind == "dict":
            items = [(k, self._rebuild(t, results)) for k, t in template[2]]
            try:
                return cls(items)
            except TypeError:  # a dict subclass that takes other arguments
                return dict(items)
        parts = [self._rebuild(t, results) for t in template[2]]
        if kind == "namedtuple":
            return cls(*parts)
        if kind == "list":
            return parts
        return tuple(parts)

    def _feeds(self, feed_dict):
        """{id(tensor): (tensor, ndarray)}: feed_dict resolved and converted,
        checked against each tensor's static shape and dtype."""
        out = {}
        if feed_dict is None:
            return out
        if not isinstance(feed_dict, dict):
            raise TypeError(f"Session.run: feed_dict must be a dict, got "
                            f"{_errors.describe(feed_dict)}")
        g = self._graph
        for key, value in feed_dict.items():
            t = key
            if isinstance(key, str):
                try:
                    t = g.get_tensor_by_name(key)
                except (KeyError, ValueError) as e:
                    raise ValueError(f"Session.run: feed key {key!r}: {e.args[0]}") from None
            if not _core.is_symbolic(t) or isinstance(t, _core.Variable):
                raise TypeError(f"Session.run: a feed_dict key must be a graph tensor or its "
                                f"name, got {_errors.describe(key)}")
            if t.graph is not g:
                raise ValueError(f"Session.run: the feed key {t.name} is a tensor of another "
                                 "graph than the Session's")
            out[id(t)] = (t, _feed_value(t, value))
        return out

    # --- the schedule --------------------------------------------------------
    def _plan(self, elements, feeds):
        key = (tuple((id(n), i) for n, i in elements), frozenset(feeds))
        entry = self._plans.get(key)
        if entry is not None:
            return entry
        fed_ids = feeds
        needed = {}
        stack = []
        for node, index in elements:
            if index is not None and id(node._outputs[index]) in fed_ids:
                continue
            if node._outputs and all(id(t) in fed_ids for t in node._outputs):
                continue  # an Operation whose outputs are all fed: nothing to run
            stack.append(node)
        while stack:
            node = stack.pop()
            if id(node) in needed:
                continue
            needed[id(node)] = node
            for t in node._inputs:
                if id(t) not in fed_ids:
                    stack.append(t.op)
            stack.extend(node._control_inputs)
        position = {id(n): i for i, n in enumerate(self._graph.get_operations())}
        order = sorted(needed.values(), key=lambda n: position[id(n)])
        missing = [n for n in order if n._type == "Placeholder"]
        if missing:
            p = missing[0]._outputs[0]
            raise _errors.InvalidArgumentError(
                f"Session.run: you must feed a value for placeholder tensor '{p.name}' with "
                f"dtype {p.dtype.name} and shape {p.shape}" + _built_at(missing[0])
                + (f" (unfed placeholders the fetches need: "
                   f"{', '.join(n.name for n in missing)})" if len(missing) > 1 else ""))
        for n in order:
            if n.op_def is None and n._type not in _KINDS:
                raise NotImplementedError(f"Session.run: node '{n.name}' of type {n._type} "
                                          "cannot run in a Session")
        fed = [t for t, _ in feeds.values()]
        results = []
        for node, index in elements:
            if index is not None:
                results.append(node._outputs[index])
            elif node._outputs and node.op_def is not None:
                results.append(node._outputs[0])  # a fetched Operation runs (its value unused)
        plan = _core.build_plan(order, fed, results, special=self._special)
        plan.error = _plan_error
        kinds = {id(t): _KINDS.get(t.op._type, _K_OP) for t in results}
        # results that are values the graph or the Session keeps are copied
        held = [not made or kinds[id(t)] in _HELD for t, made in zip(results, plan.result_made)]
        entry = self._plans[key] = (plan, [id(t) for t in fed], held)
        return entry

    def _special(self, node):
        """build_plan's steps of the variables' nodes (Note [Graph variables])."""
        kind = _KINDS[node._type]
        if kind == _K_READ:
            return self._read, (node,), True
        if kind == _K_ASSIGN:
            return self._assign_step, (node,), True
        return None  # NoOp: its control inputs run (they are in the schedule)

    # --- running -------------------------------------------------------------
    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        """Runs what `fetches` need and returns their values: NumPy arrays in
        the structure of `fetches` (a tensor, an Operation - None -, a name
        such as "add:0", or nested lists, tuples, namedtuples and dicts of
        them). `feed_dict` maps placeholders (or any tensor, or their names)
        to values. See Note [Running a graph]."""
        if self._closed:
            raise RuntimeError("Session.run: attempted to use a closed Session")
        if options is not None or run_metadata is not None:
            raise TypeError("Session.run: options= and run_metadata= (TensorFlow's run "
                            "tracing) are not supported")
        leaves = []
        template = self._flatten(fetches, leaves)
        feeds = self._feeds(feed_dict)
        plan, fed_order, copy = self._plan(leaves, feeds)
        plan.after_step = _check_outputs if self._debug_checks else None
        out = plan.run([feeds[i][1] for i in fed_order])
        results = []
        returned = set()
        k = 0
        for node, index in leaves:
            if index is None:
                results.append(None)
                if node._outputs and node.op_def is not None:
                    k += 1
                continue
            value = out[k]
            if (copy[k] or value.base is not None
                    or id(value) in returned):  # one array per result: See Note [Running a graph]
                value = np.array(value, copy=True)
            k += 1
            returned.add(id(value))
            results.append(value)
        return self._rebuild(template, results)

    def _read(self, node):
        v = node.attrs[0]
        if v._graph_var is None:
            return _core.tensor_value(v)
        value = self._values.get(v.ref())
        if value is None:
            raise _errors.FailedPreconditionError(
                f"{node._type} '{node.name}': attempting to use the uninitialized variable "
                f"'{v.name}' (shape {tuple(v.shape)}, dtype {v.dtype.name}); run its "
                "initializer first: sess.run(ft.global_variables_initializer()) or "
                f"sess.run(v.initializer)" + _built_at(node))
        return value

    def _assign_step(self, value, node):
        return self._assign(node, value)

    def _assign(self, node, value):
        v = node.attrs[0]
        new = _assigned_value(node, value, lambda: self._read(node))
        if v._graph_var is None:
            _core.variable_store(v, new)
        else:
            self._values[v.ref()] = new
        return new

    def __repr__(self):
        return f"<ft.Session on {self._graph!r}{' (closed)' if self._closed else ''}>"


class InteractiveSession(Session):
    """A Session meant to stay open in a shell or a notebook (TensorFlow 1's
    name): it makes itself the thread's default Session until `close()`, so
    `t.eval()` and `op.run()` need no `with`. (Unlike TensorFlow 1 it does not
    also make its graph the default: build inside `with g.as_default():`.)"""

    def __init__(self, target="", graph=None, config=None):
        super().__init__(target, graph, config)
        _session_stack().append(self)

    def close(self):
        if not self._closed:
            _pop_session(self)
        super().close()


# ------------------------------------------------------------ default session

_thread = threading.local()


def _session_stack():
    stack = getattr(_thread, "sessions", None)
    if stack is None:
        stack = _thread.sessions = []
    return stack


def _pop_session(sess):
    stack = _session_stack()
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] is sess:
            del stack[i]
            return


def get_default_session():
    """The thread's default Session (`with sess:`, `sess.as_default()`, an
    open InteractiveSession), or None."""
    stack = _session_stack()
    return stack[-1] if stack else None


def _eval(fetch, feed_dict, session):
    """`t.eval()` / `op.run()` / `v.eval()`: run `fetch` in `session` or
    the default Session."""
    if session is None:
        session = get_default_session()
        if session is None:
            what = "run the operation" if isinstance(fetch, _graph.Operation) else \
                "evaluate the tensor"
            raise ValueError(f"Cannot {what} {fetch.name!r}: no default Session is registered; "
                             "use `with sess.as_default():` (or `with sess:`) or pass "
                             "session=sess")
    elif not isinstance(session, Session):
        raise TypeError(f"session must be an ft.Session, got {_errors.describe(session)}")
    graph = fetch.graph
    if graph is not session.graph:
        raise ValueError(f"Cannot use the Session to run {fetch.name!r}: it belongs to another "
                         "graph than the Session's")
    return session.run(fetch, feed_dict)


_core.set_special("eval", _eval)


# ------------------------------------------------------------------ helpers

def _feed_value(t, value):
    """The ndarray fed for tensor `t`: converted as convert_to_tensor(value,
    t.dtype) converts, of a shape compatible with t's static shape."""
    if _core.is_symbolic(value):
        raise TypeError(f"Session.run: the value fed for {t.name} is the symbolic tensor "
                        f"{value.name}; feed NumPy arrays, Python data or eager tensors")
    try:
        arr = _core.tensor_value(_core.convert_to_tensor(value, t.dtype))
    except (TypeError, ValueError) as e:
        raise type(e)(f"Session.run: cannot feed {_errors.describe(value)} for {t.name} of "
                      f"dtype {t.dtype.name} and shape {t.shape}: {e}" + _built_at(t.op)
                      ) from None
    static = t.shape
    if static.rank is not None and (
            len(static) != arr.ndim
            or any(d is not None and d != a for d, a in zip(static, arr.shape))):
        raise ValueError(f"Session.run: cannot feed a value of shape {arr.shape} for {t.name}, "
                         f"which has shape {static}" + _built_at(t.op))
    return arr


def _assigned_value(node, value, read):
    """The new value of an assign node's variable (a new array), given the
    value fed to it and `read()` giving the current one."""
    v = node.attrs[0]
    shape, dtype = tuple(v.shape), v.dtype
    if value.shape != shape:
        if value.size == 1 == int(np.prod(shape)):
            value = value.reshape(shape)
        else:
            raise _errors.InvalidArgumentError(
                f"{node._type} '{node.name}': value of shape {value.shape} for variable "
                f"'{v.name}' of shape {shape}" + _built_at(node))
    if node._type == "Assign":
        return np.array(value, dtype=dtype, copy=True)
    if node._type == "AssignAdd":
        return np.asarray(read() + value, dtype=dtype)
    return np.asarray(read() - value, dtype=dtype)


_EAGER_ASSIGN = {"Assign": _core.Variable.assign, "AssignAdd": _core.Variable.assign_add,
                 "AssignSub": _core.Variable.assign_sub}


def _assign_eager(value, node):
    """An assign node of an eager variable in a traced function's plan: the
    eager method (in place when the variable alone holds its array: no read
    the plan still holds, no tensor returned earlier, sees the update)."""
    v = node.attrs[0]
    _EAGER_ASSIGN[node._type](v, value)
    return _core.tensor_value(v)


# node type -> step(node): steps of other stateful nodes without an op-table
# entry in traced functions (ft.summary's "WriteSummary"), registered by their
# modules: (function called with the inputs' values then the attrs, attrs, stateful)
NODE_STEPS = {}


def function_node(node):
    """build_plan's steps of the variables' nodes in a traced function
    (ft.function): reads and assigns of eager variables, in program order;
    and of the node types in NODE_STEPS."""
    step = NODE_STEPS.get(node._type)
    if step is not None:
        return step(node)
    kind = _KINDS.get(node._type)
    if kind in (_K_READ, _K_ASSIGN):
        v = node.attrs[0]
        if v._graph_var is not None:
            raise ValueError(f"ft.function: node '{node.name}' uses the graph variable "
                             f"'{v.name}', whose value lives in a Session")
        if kind == _K_READ:
            return _core.tensor_value, (v,), True
        return _assign_eager, (node,), True
    if kind == _K_NOOP:
        return None
    where = node.traceback
    raise NotImplementedError(
        f"ft.function: the executor cannot run node '{node.name}' of type {node._type}"
        + (f" (built at {where[0]}:{where[1]}: {where[2]})" if where else ""))


def _built_at(node):
    where = node.traceback
    if where is None:
        return ""
    return f"\n  built at {where[0]}:{where[1]}: {where[2]}"


def _plan_error(node, ins, exc):
    """The Session plan's error hook: a variable node's own errors as they
    are, an op's as _node_error."""
    if node.op_def is None:
        return exc
    err = _node_error(node, ins, exc)
    if node.calls_python:  # a py_func's error chains the function's own exception
        err.__cause__ = exc.__cause__
    return err


def _node_error(node, ins, exc):
    """The error for node's forward raising `exc`: the op, the node, its
    inputs, the line that built the node and the `sess.run` line."""
    cls = type(exc) if type(exc) in (TypeError, ValueError) else _errors.InvalidArgumentError
    names = None if node.op_def.variadic else node.op_def.input_names
    detail = getattr(exc, "ft_detail", None) or str(exc) or type(exc).__name__
    err = _errors.op_error(cls, f"{node.op_def.name} (node '{node.name}')", ins,
                           f"{detail}{_built_at(node)}", names)
    err.ft_op = node.op_def.name
    err.op = node
    return err


def _check_outputs(node, values):
    """The debug check: a node's outputs have its static shapes and dtypes."""
    for t, v in zip(node._outputs, values):
        if not TensorShape(v.shape).is_compatible_with(t.shape) or v.dtype != t.dtype:
            raise AssertionError(
                f"node '{node.name}' ({node._type}) output {t.value_index}: got shape "
                f"{v.shape} dtype {v.dtype}, its static shape is {t.shape} dtype "
                f"{t.dtype.name}" + _built_at(node))


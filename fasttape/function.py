"""`ft.function`: trace a Python function into a graph once per input
signature, then run the trace through a compiled plan.

    @ft.function
    def step(x, w):
        return ft.nn.relu(x @ w + 1.0)

The first call with a new signature runs `step` once with placeholders in
place of its tensor arguments, inside a new ft.Graph (so ops build nodes and
`ft.executing_eagerly()` is False there), and compiles the graph into a Plan
(fasttape/_core/_executor.pxi, Note [Executor]); later calls with that
signature run the plan, not the Python code.

Note [Trace signatures]
~~~~~~~~~~~~~~~~~~~~~~~
A call's signature is its arguments bound to the function's parameters
(defaults applied, so `f(x)` and `f(x, 2)` are the same call when 2 is the
default), walked through nested lists, tuples (namedtuples), and dicts:
- a tensor leaf (an eager ft.Tensor, a NumPy array, a Variable passed as an
  argument: its current value) counts by dtype and shape, and becomes a
  placeholder of that dtype and shape;
- an ft.TensorSpec leaf (get_concrete_function) counts by its dtype and
  shape, None dims included;
- any other leaf counts by type and value (1, 1.0 and True differ),
  unhashable ones by identity. A new value is a new trace: the retracing
  warning names such an argument once it has caused _RETRACE_WARN traces.
With `input_signature`, the only trace is the signature's: each call
converts its arguments to the specs' dtypes and checks their shapes (None
dims match anything), raising TypeError/ValueError naming the argument.

A call of only eager Tensors as positional arguments, or plain lists and
tuples of them (the common case) skips all of this when it fits the last
trace: the plan compares the arguments' structure, dtypes and shapes in C
(Plan.call). Anything else takes the general path.

Note [Variables while tracing]
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
An eager Variable read inside a traced function is a ReadVariableOp node
holding the variable (graph.py's capture): each call reads its value then,
so an assign between calls is seen by the next call; assigns are stateful
nodes run in program order (session.function_node).
Creating a Variable while tracing follows TensorFlow's rule: on the
function's first trace it is created once, eagerly (its initial value
computed under `init_scope`: a callable is called, a tensor of the trace
that does not read the arguments - ft.zeros, ft.random.normal - is run
once and its nodes are left out of the plan), and then read through
ReadVariableOp nodes like any captured variable: later calls do not run the
Python code, so they reuse it, as do later traces, which find it where the
first one put it (`self.w`, a layer's weights). Creating one on a later
trace raises ValueError naming the variable and the line that made it (a
new variable per trace would silently reset state); an initial value
reading an argument raises naming the argument. Layers that build on their
first call (fasttape/layers: add_weight draws the initial value under
`init_scope`) therefore work inside ft.function: `f = ft.function(lambda
x: model(x))`. Per-instance methods trace per instance, so each instance
makes its variables on its own first trace.
"""

import contextlib
import functools
import inspect
import threading
import warnings
import weakref

import numpy as np

from fasttape import errors as _errors
from fasttape import graph as _graph
from fasttape import session as _session
from fasttape._core import core as _core
from fasttape.tensor_shape import TensorShape

__all__ = ["ConcreteFunction", "Function", "TensorSpec", "function"]

#: traces caused by new values of one Python argument before the warning
_RETRACE_WARN = 5


class TensorSpec:
    """The dtype and shape (None dims: any size) of a tensor argument.

    >>> import fasttape as ft
    >>> ft.TensorSpec([None, 3], ft.float32)
    TensorSpec(shape=(None, 3), dtype=float32, name=None)
    """

    __slots__ = ("_shape", "_dtype", "_name")

    def __init__(self, shape, dtype=np.float32, name=None):
        from fasttape.dtypes import as_dtype

        self._shape = _graph._static_shape("TensorSpec", shape)
        self._dtype = np.dtype(as_dtype(dtype))
        if name is not None and not isinstance(name, str):
            raise TypeError(f"TensorSpec: name must be a str, got {type(name).__name__}")
        self._name = name

    @classmethod
    def from_tensor(cls, tensor, name=None):
        """The spec of `tensor` (an ft.Tensor, graph or eager, or an array)."""
        if isinstance(tensor, _core.Tensor):
            return cls(tensor.shape, tensor.dtype,
                       name if name is not None else _tensor_name(tensor))
        arr = np.asarray(tensor)
        return cls(arr.shape, arr.dtype, name)

    @property
    def shape(self):
        return self._shape

    @property
    def dtype(self):
        return self._dtype

    @property
    def name(self):
        return self._name

    def is_compatible_with(self, other):
        """True when `other` (a spec, a tensor or an array) has this dtype and
        a shape that fits this one."""
        if not isinstance(other, TensorSpec):
            other = TensorSpec.from_tensor(other)
        return other._dtype == self._dtype and self._shape.is_compatible_with(other._shape)

    def _key(self):
        dims = None if self._shape.rank is None else tuple(self._shape)
        return (self._dtype, dims, self._name)

    def __eq__(self, other):
        return isinstance(other, TensorSpec) and self._key() == other._key()

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        dims = None if self._shape.rank is None else tuple(self._shape)
        return f"TensorSpec(shape={dims}, dtype={self._dtype.name}, name={self._name!r})"


def _tensor_name(t):
    return t.op.name if _core.is_symbolic(t) else None


# ------------------------------------------------------------ signatures

def _is_tensor_leaf(x):
    return isinstance(x, (_core.Tensor, np.ndarray))


def _walk(x, path, tensors, pyargs):
    """The signature key of argument `x` at `path` (Note [Trace signatures]);
    appends (path, leaf) of its tensor leaves to `tensors` and of its Python
    leaves to `pyargs`."""
    if isinstance(x, _core.Tensor):
        if _core.is_symbolic(x):
            raise TypeError(f"ft.function: argument {path} is a graph tensor ({x.name}); "
                            "a traced function takes eager tensors")
        tensors.append((path, x))
        return ("T", x.dtype, tuple(x.shape))
    if isinstance(x, np.ndarray):
        tensors.append((path, x))
        return ("T", x.dtype, x.shape)
    if isinstance(x, TensorSpec):
        tensors.append((path, x))
        return ("T", x.dtype, None if x.shape.rank is None else tuple(x.shape))
    if isinstance(x, dict):
        return (dict, tuple((k, _walk(x[k], f"{path}[{k!r}]", tensors, pyargs))
                            for k in sorted(x)))
    if isinstance(x, (list, tuple)):
        return (type(x), tuple(_walk(v, f"{path}[{i}]", tensors, pyargs)
                               for i, v in enumerate(x)))
    pyargs.append((path, x))
    try:
        hash(x)
    except TypeError:
        return ("id", type(x), id(x))
    if isinstance(x, float):
        return (float, repr(x))
    return (type(x), x)


def _rebuild(x, it):
    """`x` with its tensor leaves replaced by the next items of `it`."""
    if _is_tensor_leaf(x) or isinstance(x, TensorSpec):
        return next(it)
    if isinstance(x, dict):
        return type(x)((k, _rebuild(x[k], it)) for k in x)
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*[_rebuild(v, it) for v in x])
    if isinstance(x, (list, tuple)):
        return type(x)(_rebuild(v, it) for v in x)
    return x


def _value_of(x):
    """The array a tensor leaf feeds."""
    if isinstance(x, _core.Tensor):
        return _core.tensor_value(x)
    return _core.tensor_value(_core.convert_to_tensor(x))


# ------------------------------------------------------------ traced functions

class ConcreteFunction:
    """One trace of an ft.function: its graph, placeholders (`inputs`),
    returned graph tensors (`outputs`) and returned structure
    (`structured_outputs`), compiled into a plan. Call it with arguments of
    the traced call's structure."""

    def __init__(self, graph, inputs, structured_outputs, outputs, arg_key, arg_paths,
                 bind, plan, name):
        self.graph = graph
        self.inputs = inputs
        self.structured_outputs = structured_outputs
        self.outputs = outputs
        self._arg_key = arg_key
        self._arg_paths = arg_paths
        self._bind = bind
        self._plan = plan
        self._name = name
        flat = _flatten_outputs(structured_outputs)
        self._single = len(flat) == 1 and len(outputs) == 1 and flat[0] is outputs[0]
        plan.single = self._single
        plan.pack = self._pack

    @property
    def plan(self):
        """The compiled schedule (Note [Executor])."""
        return self._plan

    @property
    def name(self):
        return self._name

    def __repr__(self):
        return f"<ft.ConcreteFunction {self._name} ({len(self.inputs)} inputs)>"

    def __call__(self, *args, **kwargs):
        if not kwargs:
            out = self._plan.call(args)
            if out is not _core.PLAN_MISS:
                return out
        return self._call_bound(*self._bind(args, kwargs))

    def _call_bound(self, tensors, key):
        if _mask_shapes(key, False) != _mask_shapes(self._arg_key, False):
            raise TypeError(
                f"ConcreteFunction {self._name}: the arguments' structure or Python values "
                "differ from its trace's; call the ft.function itself to trace them")
        if len(tensors) != len(self.inputs):
            raise TypeError(
                f"ConcreteFunction {self._name}: takes {len(self.inputs)} tensor argument"
                f"{'s' if len(self.inputs) != 1 else ''} (its trace's), got {len(tensors)}; "
                "call the ft.function itself to trace other arguments")
        return self._call_leaves(tensors)

    def _call_leaves(self, tensors):
        values = []
        for i, (path, x) in enumerate(tensors):
            v = _value_of(x)
            if not self._plan.matches(i, v):
                p = self.inputs[i]
                raise ValueError(
                    f"ft.function {self._name}: argument {path} has shape {v.shape} dtype "
                    f"{v.dtype.name}, but this trace takes shape {p.shape} dtype {p.dtype.name}")
            values.append(v)
        self._plan.check_tapes([x for _, x in tensors])
        out = self._plan.run(values)
        return self._pack([_core.wrap_array(v) for v in out])

    def _pack(self, out):
        if self._single:
            return out[0]
        it = iter(out)
        leaves = [next(it) if _core.is_symbolic(x) else x
                  for x in _flatten_outputs(self.structured_outputs)]
        return _pack_outputs(self.structured_outputs, iter(leaves))


def _flatten_outputs(s):
    out = []

    def walk(x):
        if isinstance(x, dict):
            for k in sorted(x):
                walk(x[k])
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)
        else:
            out.append(x)
    walk(s)
    return out


def _pack_outputs(s, it):
    if isinstance(s, dict):
        packed = {k: _pack_outputs(s[k], it) for k in sorted(s)}
        return type(s)((k, packed[k]) for k in s)
    if isinstance(s, tuple) and hasattr(s, "_fields"):
        return type(s)(*[_pack_outputs(v, it) for v in s])
    if isinstance(s, (list, tuple)):
        return type(s)(_pack_outputs(v, it) for v in s)
    return next(it)


class Function(_core.TracedCallable):
    """A Python function traced per input signature (ft.function): see the
    module's docstring and Note [Trace signatures]. Calls that fit the last
    trace run from the compiled base class (TracedCallable.__call__);
    others reach `_call_slow`."""

    def __init__(self, fn, input_signature=None, name=None, signature=None,
                 reduce_retracing=False):
        if not callable(fn):
            raise TypeError(f"ft.function: expects a callable, got {type(fn).__name__}")
        self._python_function = fn
        self._name = name or getattr(fn, "__name__", type(fn).__name__)
        try:
            self._signature = signature or inspect.signature(fn)
        except (TypeError, ValueError):
            self._signature = None
        if input_signature is not None:
            input_signature = list(input_signature) if isinstance(
                input_signature, (list, tuple)) else None
            if input_signature is None or not all(
                    isinstance(s, TensorSpec) for s in _flatten_outputs(input_signature)):
                raise TypeError("ft.function: input_signature must be a list or tuple of "
                                "ft.TensorSpec (nested lists, tuples and dicts allowed)")
        self._input_signature = input_signature
        self._reduce_retracing = bool(reduce_retracing) and input_signature is None
        self._by_shape_class = {}  # reduce_retracing: key with ranks for shapes -> traces
        self._simple = _simple_parameters(self._signature)
        self._cache = {}          # signature key -> ConcreteFunction
        self._lock = threading.RLock()
        self._py_values = {}      # argument path -> Python values that caused traces
        self._warned = False
        self._instances = weakref.WeakKeyDictionary()
        self.tracing_count = 0
        functools.update_wrapper(self, fn, updated=())

    @property
    def python_function(self):
        return self._python_function

    @property
    def input_signature(self):
        return self._input_signature

    def experimental_get_tracing_count(self):
        """How many times the Python function was traced (TensorFlow's name)."""
        return self.tracing_count

    def __repr__(self):
        return f"<ft.function {self._name}>"

    # --- methods: one Function per instance ---------------------------------
    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        try:
            bound = self._instances.get(instance)
        except TypeError:  # not weakly referenceable or not hashable: kept on the instance
            attr = f"_ft_function_{id(self)}"
            bound = instance.__dict__.get(attr)
            if bound is None:
                bound = instance.__dict__[attr] = self._bind_to(instance, weakref=False)
            return bound
        if bound is None:
            bound = self._bind_to(instance, weakref=True)
            self._instances[instance] = bound
        return bound

    def _bind_to(self, instance, weakref):
        fn = self._python_function
        if weakref:
            import weakref as _weakref
            ref = _weakref.ref(instance)
        else:
            def ref():
                return instance

        def bound(*args, **kwargs):
            return fn(ref(), *args, **kwargs)

        sig = None
        if self._signature is not None:
            params = list(self._signature.parameters.values())[1:]
            sig = self._signature.replace(parameters=params)
        return Function(bound, self._input_signature, name=self._name, signature=sig,
                        reduce_retracing=self._reduce_retracing)

    # --- calls --------------------------------------------------------------
    def _call_slow(self, args, kwargs):
        if _core.staging():
            # called while building a graph (another trace, graph mode): the
            # Python function builds into that graph
            return self._python_function(*args, **kwargs)
        return self._call_general(args, kwargs)

    def _call_general(self, args, kwargs):
        tensors, key = self._bind(args, kwargs, convert=True)
        with self._lock:
            cf = self._cache.get(key)
            if cf is None:
                if self._reduce_retracing:
                    cf = self._relaxed_trace(args, kwargs, tensors, key)
                else:
                    cf = self._trace(args, kwargs, tensors, key)
        if not kwargs and cf._arg_paths is not None:
            self.fast_plan = cf._plan  # the fast path (Note [Trace signatures])
        return cf._call_leaves(tensors)

    def _bind(self, args, kwargs, convert=False):
        """(tensor leaves as (path, leaf), the signature key) of a call."""
        if self._input_signature is not None:
            return self._bind_signature(args, kwargs, convert)
        bound = self._bound_arguments(args, kwargs)
        tensors, pyargs = [], []
        key = tuple((name, _walk(v, name, tensors, pyargs)) for name, v in bound)
        return tensors, key

    def _bound_arguments(self, args, kwargs):
        simple = self._simple
        if simple is not None and not kwargs and len(args) <= len(simple):
            # plain positional parameters: bound without inspect (the general path's cost)
            bound = list(zip([p[0] for p in simple], args))
            for name, default in simple[len(args):]:
                if default is inspect.Parameter.empty:
                    raise TypeError(f"ft.function {self._name}: missing a required "
                                    f"argument: {name!r}")
                bound.append((name, default))
            return bound
        if self._signature is None:
            return [(f"args[{i}]", a) for i, a in enumerate(args)] + sorted(kwargs.items())
        try:
            b = self._signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"ft.function {self._name}: {e}") from None
        b.apply_defaults()
        return list(b.arguments.items())

    def _bind_signature(self, args, kwargs, convert):
        specs = self._input_signature
        if kwargs and self._signature is not None:
            try:
                b = self._signature.bind(*args, **kwargs)
            except TypeError as e:
                raise TypeError(f"ft.function {self._name}: {e}") from None
            args, kwargs = b.args, b.kwargs
        if kwargs or len(args) != len(specs):
            raise TypeError(
                f"ft.function {self._name}: takes {len(specs)} argument"
                f"{'s' if len(specs) != 1 else ''} of its input_signature, got {len(args)}"
                + (f" and keyword arguments {sorted(kwargs)}" if kwargs else ""))
        names = self._param_names(len(args))
        tensors = []
        for name, spec, a in zip(names, specs, args):
            self._match_spec(name, spec, a, tensors, convert)
        return tensors, ("input_signature",)

    def _param_names(self, n):
        if self._signature is None:
            return [f"args[{i}]" for i in range(n)]
        names = [p.name for p in self._signature.parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        return (names + [f"args[{i}]" for i in range(len(names), n)])[:n]

    def _match_spec(self, path, spec, a, tensors, convert):
        if isinstance(spec, dict):
            if not isinstance(a, dict) or sorted(a) != sorted(spec):
                raise TypeError(f"ft.function {self._name}: argument {path} must be a dict "
                                f"with keys {sorted(spec)}, got {_errors.describe(a)}")
            for k in sorted(spec):
                self._match_spec(f"{path}[{k!r}]", spec[k], a[k], tensors, convert)
            return
        if isinstance(spec, (list, tuple)):
            if not isinstance(a, (list, tuple)) or len(a) != len(spec):
                raise TypeError(f"ft.function {self._name}: argument {path} must be a "
                                f"sequence of {len(spec)}, got {_errors.describe(a)}")
            for i, (s, x) in enumerate(zip(spec, a)):
                self._match_spec(f"{path}[{i}]", s, x, tensors, convert)
            return
        if isinstance(a, TensorSpec):
            if not spec.is_compatible_with(a):
                raise ValueError(f"ft.function {self._name}: argument {path} is {a}, which "
                                 f"does not fit the input_signature's {spec}")
            tensors.append((path, a))
            return
        if isinstance(a, _core.Tensor) and _core.is_symbolic(a):
            raise TypeError(f"ft.function {self._name}: argument {path} is a graph tensor "
                            f"({a.name}); a traced function takes eager tensors")
        if not isinstance(a, _core.Tensor):
            try:
                a = _core.convert_to_tensor(a, spec.dtype if not isinstance(a, np.ndarray)
                                            else None)
            except (TypeError, ValueError) as e:
                raise TypeError(f"ft.function {self._name}: argument {path} cannot be "
                                f"converted to a tensor for {spec}: {e}") from None
        if a.dtype != spec.dtype:
            raise TypeError(f"ft.function {self._name}: argument {path} has dtype "
                            f"{a.dtype.name}, but the input_signature says {spec.dtype.name} "
                            f"({spec})")
        if not spec.shape.is_compatible_with(TensorShape(tuple(a.shape))):
            raise ValueError(f"ft.function {self._name}: argument {path} has shape "
                             f"{tuple(a.shape)}, which does not fit the input_signature's "
                             f"shape {spec.shape} ({spec})")
        tensors.append((path, a))

    # --- tracing ------------------------------------------------------------
    def get_concrete_function(self, *args, **kwargs):
        """The ConcreteFunction for these arguments (tensors or ft.TensorSpecs;
        none with an input_signature), tracing it if needed."""
        if self._input_signature is not None and not args and not kwargs:
            args = tuple(self._input_signature)
        tensors, key = self._bind(args, kwargs)
        with self._lock:
            cf = self._cache.get(key)
            if cf is None:
                cf = self._trace(args, kwargs, tensors, key, stacklevel=4)
        return cf

    def _trace(self, args, kwargs, tensors, key, stacklevel=5, call_args=None):
        g = _graph.Graph()
        g._ft_function = self._name
        g._ft_creates_variables = self.tracing_count == 0  # Note [Variables while tracing]
        g._ft_lifted = set()
        with g.as_default():
            placeholders = []
            for path, x in tensors:
                if self._input_signature is not None:
                    spec = self._spec_at(path, x)
                else:
                    spec = x if isinstance(x, TensorSpec) else None
                if spec is None:
                    shape, dtype = tuple(x.shape), x.dtype
                else:
                    shape, dtype = spec.shape, spec.dtype
                name = _placeholder_name(path)
                placeholders.append(_graph.placeholder(dtype, shape, name=name))
            if self._input_signature is not None:
                b_args, b_kwargs = self._rebuild_signature(args, placeholders)
            else:
                b_args, b_kwargs = self._rebuild_call(args, kwargs, placeholders)
            out = self._python_function(*b_args, **b_kwargs)
        outputs = []
        for x in _flatten_outputs(out):
            if _core.is_symbolic(x):
                if x.graph is not g:
                    raise ValueError(f"ft.function {self._name}: it returned {x.name}, a "
                                     "tensor of another graph")
                outputs.append(x)
        plan = _core.build_plan(_plan_operations(g, outputs), placeholders, outputs,
                               special=_session.function_node)
        layout = _flat_layout(args if call_args is None else call_args, kwargs, len(tensors)) \
            if self._input_signature is None else None
        if layout is not None:
            plan.set_layout(layout)
        cf = ConcreteFunction(g, placeholders, out, outputs, key,
                              [p for p, _ in tensors] if layout is not None else None,
                              functools.partial(_bind_for_concrete, self), plan, self._name)
        self._cache[key] = cf
        self.tracing_count += 1
        self._note_retrace(args, kwargs, stacklevel)
        return cf

    def _relaxed_trace(self, args, kwargs, tensors, key):
        """reduce_retracing: a trace whose placeholders fit these tensors,
        else a new one with None for the dims that differ from the last
        trace of the same dtypes, ranks and Python values (TensorFlow's
        rule), else an exact one."""
        shape_class = _mask_shapes(key)
        traces = self._by_shape_class.setdefault(shape_class, [])
        values = [_value_of(x) for _, x in tensors]
        for cf in reversed(traces):
            if all(cf._plan.matches(i, v) for i, v in enumerate(values)):
                self._cache[key] = cf
                return cf
        if not traces:
            cf = self._trace(args, kwargs, tensors, key, stacklevel=6)
        else:
            base = traces[-1].inputs
            specs = iter([TensorSpec([d if d == b else None for d, b in
                                      zip(v.shape, p.shape)], v.dtype)
                          for v, p in zip(values, base)])
            spec_args = tuple(_rebuild(a, specs) for a in args)
            spec_kwargs = {k: _rebuild(kwargs[k], specs) for k in sorted(kwargs)}
            spec_tensors, spec_key = self._bind(spec_args, spec_kwargs)
            cf = self._cache.get(spec_key) or self._trace(
                spec_args, spec_kwargs, spec_tensors, spec_key, stacklevel=6, call_args=args)
            self._cache[key] = cf
        traces.append(cf)
        return cf

    def _spec_at(self, path, x):
        if isinstance(x, TensorSpec):
            return x
        # the spec of leaf `path` in input_signature
        return self._specs_by_path().get(path)

    def _specs_by_path(self):
        out = {}

        def walk(s, path):
            if isinstance(s, dict):
                for k in sorted(s):
                    walk(s[k], f"{path}[{k!r}]")
            elif isinstance(s, (list, tuple)):
                for i, v in enumerate(s):
                    walk(v, f"{path}[{i}]")
            else:
                out[path] = s
        for name, spec in zip(self._param_names(len(self._input_signature)),
                              self._input_signature):
            walk(spec, name)
        return out

    def _rebuild_call(self, args, kwargs, placeholders):
        it = iter(placeholders)
        if self._signature is None:
            return (tuple(_rebuild(a, it) for a in args),
                    {k: _rebuild(kwargs[k], it) for k in sorted(kwargs)})
        b = self._signature.bind(*args, **kwargs)
        b.apply_defaults()
        for name in b.arguments:
            b.arguments[name] = _rebuild(b.arguments[name], it)
        return b.args, b.kwargs

    def _rebuild_signature(self, args, placeholders):
        it = iter(placeholders)

        def rebuild(s):
            if isinstance(s, dict):
                return {k: rebuild(s[k]) for k in sorted(s)}
            if isinstance(s, (list, tuple)):
                return type(s)(rebuild(v) for v in s)
            return next(it)
        return tuple(rebuild(s) for s in self._input_signature), {}

    def _note_retrace(self, args, kwargs, stacklevel):
        """Counts the Python values that caused traces, per argument, and
        warns once when one argument caused _RETRACE_WARN of them."""
        if self._input_signature is not None or self._warned:
            return
        tensors, pyargs = [], []
        for name, v in self._bound_arguments(args, kwargs):
            _walk(v, name, tensors, pyargs)
        for path, v in pyargs:
            try:
                k = _walk(v, path, [], [])
            except TypeError:
                continue
            seen = self._py_values.setdefault(path, {})
            seen[k] = v
            if len(seen) >= _RETRACE_WARN:
                self._warned = True
                values = ", ".join(_errors.describe(x) for x in list(seen.values())[-3:])
                warnings.warn(
                    f"ft.function {self._name}: argument {path!r} is a Python value that "
                    f"changed between calls ({values}, ...): each new value traced the "
                    f"function again ({len(seen)} traces so far, {self.tracing_count} in all). "
                    f"Pass {path!r} as a tensor (ft.constant(...)) to trace once; Python "
                    "values are baked into the trace as constants.", RetracingWarning,
                    stacklevel=stacklevel)
                return


def _mask_shapes(key, keep_dtypes=True):
    """A signature key with each tensor's shape replaced by its rank (and
    its dtype dropped unless `keep_dtypes`)."""
    if isinstance(key, tuple):
        if len(key) == 3 and isinstance(key[0], str) and key[0] == "T":
            if not keep_dtypes:
                return ("T",)
            return ("T", key[1], None if key[2] is None else len(key[2]))
        return tuple(_mask_shapes(k, keep_dtypes) for k in key)
    return key


def _flat_layout(args, kwargs, n_tensors):
    """Plan.set_layout's argument when the call's arguments are positional
    eager Tensors and plain lists or tuples of them, which are all its
    tensor leaves (no tensor defaults); else None."""
    if kwargs:
        return None
    layout = []
    count = 0
    for a in args:
        if type(a) is _core.Tensor:
            layout.append(None)
            count += 1
        elif type(a) in (list, tuple) and all(type(x) is _core.Tensor for x in a):
            layout.append((type(a), len(a)))
            count += len(a)
        else:
            return None
    return layout if count == n_tensors else None


def _simple_parameters(signature):
    """[(name, default)] when every parameter is positional-or-keyword, else None."""
    if signature is None:
        return None
    params = list(signature.parameters.values())
    if any(p.kind is not p.POSITIONAL_OR_KEYWORD for p in params):
        return None
    return [(p.name, p.default) for p in params]


class RetracingWarning(UserWarning):
    """An ft.function traced again and again because a Python argument changed."""


def _bind_for_concrete(fn, args, kwargs):
    tensors, key = fn._bind(args, kwargs, convert=True)
    return tensors, key


def _placeholder_name(path):
    name = "".join(c if c.isalnum() or c in "_.-" else "_" for c in path).strip("_")
    if not name or not (name[0].isalnum() or name[0] == "."):
        name = "arg_" + name
    return name




@contextlib.contextmanager
def init_scope():
    """Leaves the traced functions being built on this thread for the
    context the outermost of them was called from (eager mode, as
    TensorFlow's tf.init_scope): what runs inside runs eagerly even while
    tracing, e.g. a layer drawing its initial weights on its first call
    (Note [Variables while tracing]). Inside a plain graph (`with
    g.as_default():`) it stays in that graph."""
    stack = _graph._default_stack()
    lifted = []
    while stack and getattr(stack[-1], "_ft_function", None) is not None:
        lifted.append(stack.pop())
        _core.exit_graph_mode()
    try:
        yield
    finally:
        for g in reversed(lifted):
            stack.append(g)
            _core.enter_graph_mode()


def _variable_while_staging(name, initial_value, dtype):
    """Called by ft.Variable() while the thread builds a graph: inside a
    trace, the eager initial value of a variable made once, on the
    function's first trace, or an error on a later trace; None outside
    traces (a graph variable). See Note [Variables while tracing]."""
    g = _graph.get_default_graph()
    if getattr(g, "_ft_function", None) is None:
        return None
    label = f"'{name}'" if name else "(unnamed)"
    where = _errors.user_frame()
    at = f" at {where[0]}:{where[1]}: {where[2]}" if where else ""
    if not g._ft_creates_variables:
        raise ValueError(
            f"ft.function {g._ft_function}: the variable {label} is created{at}, on a trace "
            "that is not the function's first; a traced function may create variables on "
            "its first trace only (they are then reused by every call and trace). Create "
            "it once: outside the function, or on the first call only (e.g. `if self.w is "
            "None: self.w = ft.Variable(...)`)")
    with init_scope():
        if callable(initial_value):
            initial_value = initial_value()
        if _core.is_symbolic(initial_value):
            initial_value = _lifted_value(g, initial_value, label, at)
        return _core.convert_to_tensor(initial_value, dtype)


def _lifted_value(g, t, label, at):
    """The value of `t`, a tensor of trace graph `g` that does not depend on
    the function's arguments (e.g. ft.zeros(...), ft.random.normal(...)),
    computed once; its nodes are marked to be left out of the trace's
    plan when nothing else reads them."""
    if t.graph is not g:
        raise ValueError(f"ft.function {g._ft_function}: the initial value {t.name} of the "
                         f"variable {label}{at} is a tensor of another graph")
    ops, stack, seen = [], [t.op], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.type == "Placeholder":
            raise ValueError(
                f"ft.function {g._ft_function}: the initial value {t.name} of the variable "
                f"{label}{at} depends on the function's argument '{node.name}'; a variable "
                "is created once, so its initial value must not depend on the arguments "
                "(use Python or NumPy data, an initializer, or assign it after creating it)")
        ops.append(node)
        stack.extend(x.op for x in node.inputs)
        stack.extend(node.control_inputs)
    position = {id(n): i for i, n in enumerate(g.get_operations())}
    ops.sort(key=lambda n: position[id(n)])
    g._ft_lifted.update(id(n) for n in ops)
    return _core.build_plan(ops, [], [t]).run([])[0]


def _plan_operations(g, outputs):
    """The trace's operations for its plan: those computing lifted initial
    values (Note [Variables while tracing]) are left out unless another
    node or an output reads them."""
    ops = g.get_operations()
    lifted = g._ft_lifted
    if not lifted:
        return ops
    read = {id(t.op) for t in outputs}
    kept = []
    for n in reversed(ops):  # creation order is topological: readers come later
        if id(n) in lifted and id(n) not in read:
            continue
        kept.append(n)
        read.update(id(t.op) for t in n.inputs)
        read.update(id(c) for c in n.control_inputs)
    kept.reverse()
    return kept


_core.set_special("variable_while_staging", _variable_while_staging)


def function(func=None, input_signature=None, autograph=None, jit_compile=None,
             reduce_retracing=None, experimental_relax_shapes=None, name=None):
    """Traces `func` into a graph once per input signature and runs the
    trace's compiled plan (Note [Trace signatures], Note [Executor]); a
    decorator with or without arguments.

    `input_signature`: a list of ft.TensorSpec (nested structures allowed):
    the one trace, None dims matching any size. `reduce_retracing` (or
    TensorFlow 2.x's `experimental_relax_shapes`): a call whose shapes differ
    from an earlier trace's (same dtypes, ranks and Python values) traces
    once more with None for the dims that differ, and later calls that fit
    use that trace. `autograph` is accepted and does nothing: Python `if` and
    `while` on a traced tensor raise TypeError pointing to ft.cond and
    ft.while_loop. `jit_compile` is accepted: every trace is compiled into
    a plan anyway.

    >>> import fasttape as ft
    >>> @ft.function
    ... def f(x, y):
    ...     return x * y + 1.0
    >>> f(ft.constant([1.0, 2.0]), ft.constant([3.0, 4.0])).numpy()
    array([4., 9.], dtype=float32)
    """
    if func is None:
        return functools.partial(function, input_signature=input_signature,
                                 autograph=autograph, jit_compile=jit_compile,
                                 reduce_retracing=reduce_retracing,
                                 experimental_relax_shapes=experimental_relax_shapes, name=name)
    if isinstance(func, Function):
        func = func.python_function
    relax = reduce_retracing if reduce_retracing is not None else experimental_relax_shapes
    return Function(func, input_signature, name=name, reduce_retracing=bool(relax))

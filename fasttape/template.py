"""TensorFlow 1's variable sharing: `ft.variable_scope`, `ft.get_variable`,
`ft.make_template`, `ft.AUTO_REUSE` and the `*_initializer` classes.

The seed's bridge from graph-style code to eager code (SPEC §4): a function
that makes its variables with `get_variable` inside a variable scope, wrapped
by `make_template`, creates them on its first call and reuses them on later
calls, in eager mode, in graph mode and inside `ft.function`. See Note
[Variable stores].
"""

import contextlib
import functools
import threading

import numpy as np

from fasttape import errors as _errors
from fasttape import graph as _graph
from fasttape import initializers as _init
from fasttape._core import core as _core
from fasttape.dtypes import as_dtype as _as_dtype
from fasttape.ops import array_ops as _array

__all__ = [
    "AUTO_REUSE",
    "EagerVariableStore",
    "Template",
    "VariableScope",
    "constant_initializer",
    "get_variable",
    "get_variable_scope",
    "glorot_normal_initializer",
    "glorot_uniform_initializer",
    "make_template",
    "ones_initializer",
    "orthogonal_initializer",
    "random_normal_initializer",
    "random_uniform_initializer",
    "truncated_normal_initializer",
    "variable_scope",
    "variance_scaling_initializer",
    "zeros_initializer",
]


# Note [Variable stores]
# ~~~~~~~~~~~~~~~~~~~~~~
# `get_variable(name)` looks the scoped name ("scope/name") up in a variable
# store, TensorFlow 1's `_VariableStore`; which store is TensorFlow's rule:
# - the innermost store made current on this thread: a template's own (each
#   Template has one, so two templates of one function never share variables
#   and `template.variables` is its store's list), or an EagerVariableStore's
#   (`with store.as_default():`);
# - else, while building a graph outside ft.function, the graph's store (one
#   per ft.Graph: `get_variable` with reuse=True finds what another part of the
#   graph made);
# - else (eager code, or a traced function, outside any template or store) a
#   fresh store per call: every call makes a new variable, as TensorFlow 2's
#   compat.v1.get_variable does in eager mode.
# Reuse follows the variable scope: reuse=None (the default) raises
# ValueError naming the variable when it exists, reuse=True raises when it
# does not, AUTO_REUSE makes it once. Reuse is inherited by inner scopes and
# cannot be turned off inside a reusing scope. A Template enters its scope with
# the inherited reuse on the first call and reuse=True afterwards, in every
# mode (TensorFlow 1's eager templates used AUTO_REUSE: a template that asks
# for one name twice on its first call raises here, as it does in graphs).
# A template's store lives as long as the template, so inside ft.function the
# variables are made on the first trace and found by the later traces (a
# traced function creates variables on its first trace only).
# Variables are created with the scoped name outside the name scopes (a graph
# variable is node "scope/w", not "scope_1/scope/w"), from a callable initial
# value (the initializer is called by ft.Variable: in a graph its ops are the
# variable's initializer; in a trace, where ft.function lifts creation out).

class _ReuseMode:
    def __repr__(self):
        return "ft.AUTO_REUSE"

    def __reduce__(self):
        return "AUTO_REUSE"


#: reuse=AUTO_REUSE: get_variable makes a variable if it does not exist, else reuses it
AUTO_REUSE = _ReuseMode()

_thread = threading.local()


class VariableScope:
    """A variable scope: the prefix of the names `get_variable` makes, its
    reuse mode and defaults (initializer, regularizer, dtype)."""

    def __init__(self, reuse, name="", initializer=None, regularizer=None, dtype=None,
                 name_scope=""):
        self._name = name
        self._reuse = reuse
        self._initializer = initializer
        self._regularizer = regularizer
        self._dtype = dtype
        self._name_scope = name_scope

    @property
    def name(self):
        return self._name

    @property
    def original_name_scope(self):
        return self._name_scope

    @property
    def reuse(self):
        return self._reuse

    @property
    def initializer(self):
        return self._initializer

    @property
    def regularizer(self):
        return self._regularizer

    @property
    def dtype(self):
        return self._dtype

    def reuse_variables(self):
        """Makes the rest of this scope reuse variables (reuse=True)."""
        self._reuse = True

    def set_initializer(self, initializer):
        self._initializer = initializer

    def set_dtype(self, dtype):
        self._dtype = dtype

    def set_regularizer(self, regularizer):
        self._regularizer = regularizer

    def get_variable(self, name, *args, **kwargs):
        """`ft.get_variable(name, ...)` inside this scope."""
        with variable_scope(self):
            return get_variable(name, *args, **kwargs)

    def __repr__(self):
        return f"<ft.VariableScope '{self._name}' reuse={self._reuse!r}>"


def _scopes():
    stack = getattr(_thread, "scopes", None)
    if stack is None:
        stack = _thread.scopes = [VariableScope(False)]
    return stack


def get_variable_scope():
    """The current VariableScope of this thread."""
    return _scopes()[-1]


class _Entry:
    __slots__ = ("variable", "where")

    def __init__(self, variable, where):
        self.variable = variable
        self.where = where


class _VariableStore:
    """Variables by scoped name (Note [Variable stores])."""

    def __init__(self):
        self._vars = {}
        self._children = []  # the stores of templates first called inside this one

    def variables(self):
        out = [e.variable for e in self._vars.values()]
        for child in self._children:
            out += [v for v in child.variables() if all(v is not w for w in out)]
        return out


def _stores():
    stack = getattr(_thread, "stores", None)
    if stack is None:
        stack = _thread.stores = []
    return stack


@contextlib.contextmanager
def _store_scope(store):
    stack = _stores()
    stack.append(store)
    try:
        yield store
    finally:
        stack.pop()


def _current_store():
    stack = _stores()
    if stack:
        return stack[-1]
    if _core.staging():
        g = _graph.get_default_graph()
        if getattr(g, "_ft_function", None) is None:
            store = g.__dict__.get("_ft_variable_store") if hasattr(g, "__dict__") else None
            if store is None:
                store = _VariableStore()
                g._ft_variable_store = store
            return store
    return _VariableStore()


class EagerVariableStore:
    """A variable store for eager code (TensorFlow 1's `tfe.EagerVariableStore`):
    inside `with store.as_default():`, `get_variable` finds the variables this
    store made (reuse rules as in graphs)."""

    def __init__(self):
        self._store = _VariableStore()

    def as_default(self):
        return _store_scope(self._store)

    def variables(self):
        return self._store.variables()

    def trainable_variables(self):
        return [v for v in self._store.variables() if v.trainable]

    def non_trainable_variables(self):
        return [v for v in self._store.variables() if not v.trainable]


# --------------------------------------------------------------- variable_scope

def _scope_counts():
    """Counts of scope names opened so far, for unique default names: per graph
    while building one, per thread in eager mode."""
    if _core.staging():
        g = _graph.get_default_graph()
        counts = getattr(g, "_ft_scope_counts", None)
        if counts is None:
            counts = g._ft_scope_counts = {}
        return counts
    counts = getattr(_thread, "counts", None)
    if counts is None:
        counts = _thread.counts = {}
    return counts


def _unique_scope(full):
    counts = _scope_counts()
    n = counts.get(full, 0)
    name = full if n == 0 else f"{full}_{n}"
    while n and name in counts:
        n += 1
        name = f"{full}_{n}"
    counts[full] = n + 1
    counts.setdefault(name, 1)
    return name


def _check_reuse(reuse):
    if reuse is not None and reuse is not True and reuse is not False \
            and reuse is not AUTO_REUSE:
        raise ValueError(f"variable_scope: reuse must be True, False, None or ft.AUTO_REUSE, "
                         f"got {reuse!r}")


def _unsupported(who, **args):
    """NotImplementedError naming the first argument of `args` that is set."""
    for arg, value in args.items():
        if value is not None:
            raise NotImplementedError(f"{who}: {arg}= is not supported")


def variable_scope(name_or_scope=None, default_name=None, values=None, initializer=None,
                   regularizer=None, caching_device=None, partitioner=None,
                   custom_getter=None, reuse=None, dtype=None, use_resource=None,
                   constraint=None, auxiliary_name_scope=True):
    """A scope for `get_variable`'s names and reuse (TensorFlow 1's
    `tf.variable_scope`): yields its VariableScope.

    `name_or_scope` a str opens "parent/name"; a VariableScope re-enters it;
    None opens a unique scope from `default_name` ("dense", "dense_1", ...).
    `reuse`: None inherits the parent's, True reuses existing variables (a
    missing one raises), `ft.AUTO_REUSE` makes or reuses; once a scope reuses,
    its inner scopes do. `initializer`, `regularizer`, `dtype` are defaults of
    the `get_variable` calls inside. While building a graph it also opens a
    name scope of the same name (`auxiliary_name_scope`). `use_resource` is
    accepted (every variable is a resource variable); `caching_device`,
    `partitioner`, `custom_getter` and `constraint` are not supported.

    >>> import fasttape as ft
    >>> with ft.variable_scope("layer"):
    ...     with ft.variable_scope("inner"):
    ...         ft.get_variable_scope().name
    'layer/inner'
    """
    _unsupported("variable_scope", caching_device=caching_device, partitioner=partitioner,
                 custom_getter=custom_getter, constraint=constraint)
    _check_reuse(reuse)
    if name_or_scope is None and default_name is None:
        raise TypeError("variable_scope: if name_or_scope is None, default_name must be given")
    if name_or_scope is not None and not isinstance(name_or_scope, (str, VariableScope)):
        raise TypeError(f"variable_scope: name_or_scope must be a str or a VariableScope, got "
                        f"{_errors.describe(name_or_scope)}")
    return _ScopeContext(name_or_scope, default_name, values, initializer, regularizer, reuse,
                         dtype, auxiliary_name_scope)


class _ScopeContext:
    """What `variable_scope(...)` returns: opens the scope on `__enter__` (a
    class, not a generator: templates enter one per call)."""

    __slots__ = ("_args", "_ns")

    def __init__(self, *args):
        self._args = args

    def __enter__(self):
        (name_or_scope, default_name, values, initializer, regularizer, reuse, dtype,
         auxiliary_name_scope) = self._args
        parent = get_variable_scope()
        if isinstance(name_or_scope, VariableScope):
            full = name_or_scope.name
            base = name_or_scope
            # a new name scope named after its last part ("dense_1" on a template's
            # second call in a graph), as TensorFlow 1
            name_scope_name = full.rsplit("/", 1)[-1]
            reuse_from = name_or_scope.reuse
        else:
            if name_or_scope is not None:
                _graph._check_scope_name(name_or_scope)
                full = f"{parent.name}/{name_or_scope}" if parent.name else name_or_scope
                counts = _scope_counts()
                counts[full] = counts.get(full, 0) + 1
                name_scope_name = name_or_scope
            else:
                _graph._check_scope_name(default_name)
                want = f"{parent.name}/{default_name}" if parent.name else default_name
                full = _unique_scope(want)
                name_scope_name = full.rsplit("/", 1)[-1]
            base = parent
            reuse_from = None
        if parent.reuse is True:
            new_reuse = True
        elif reuse is not None:
            new_reuse = reuse
        elif reuse_from is not None:
            new_reuse = reuse_from
        else:
            new_reuse = parent.reuse
        self._ns = None
        opened = None
        if auxiliary_name_scope and (_core.staging() or (values is not None and any(
                _core.is_symbolic(v) for v in _graph._core_flatten(values)))):
            self._ns = _graph.name_scope(name_scope_name, values=values)
            opened = self._ns.__enter__()
        scope = VariableScope(
            new_reuse, full,
            initializer if initializer is not None else base.initializer,
            regularizer if regularizer is not None else base.regularizer,
            dtype if dtype is not None else base.dtype,
            name_or_scope.original_name_scope if isinstance(name_or_scope, VariableScope)
            else opened if isinstance(opened, str) else (full + "/" if full else ""))
        _scopes().append(scope)
        return scope

    def __exit__(self, *exc):
        _scopes().pop()
        if self._ns is not None:
            return self._ns.__exit__(*exc)
        return False


# ------------------------------------------------------------------ get_variable

def _default_initializer(name, dtype):
    if dtype.kind in "fc":
        return glorot_uniform_initializer()
    if dtype.kind in "iub":
        return zeros_initializer()
    raise ValueError(f"get_variable: an initializer for variable {name} of dtype {dtype.name} "
                     "is required")


def _where():
    w = _errors.user_frame()
    return f"{w[0]}:{w[1]}: {w[2]}" if w else "<unknown>"


def get_variable(name, shape=None, dtype=None, initializer=None, regularizer=None,
                 trainable=None, collections=None, caching_device=None, partitioner=None,
                 validate_shape=True, use_resource=None, custom_getter=None, constraint=None,
                 synchronization=None, aggregation=None):
    """The variable "<scope>/name" of the current variable scope: made from
    `initializer(shape, dtype)` the first time, found again when the scope
    reuses (Note [Variable stores]).

    `initializer`: an initializer object or class (default: the scope's, else
    glorot_uniform_initializer for floats, zeros for integers and bools), or a
    value (a tensor, array or Python data; then `shape` must be None).
    `dtype` defaults to the scope's, else float32. `trainable` defaults to
    True. `regularizer(variable)` is added to the graph's
    "regularization_losses" collection (graph mode). `collections` adds the
    variable to more graph collections. Raises ValueError naming the variable
    when it exists and the scope does not reuse, when it does not exist and
    the scope reuses (reuse=True), or when a reused variable has another shape
    or dtype.

    >>> import fasttape as ft
    >>> with ft.compat.v1.EagerVariableStore().as_default():
    ...     with ft.variable_scope("s"):
    ...         v = ft.get_variable("v", [2], initializer=ft.ones_initializer())
    ...     with ft.variable_scope("s", reuse=True):
    ...         w = ft.get_variable("v", [2])
    >>> v is w, v.name
    (True, 's/v:0')
    """
    _unsupported("get_variable", caching_device=caching_device, partitioner=partitioner,
                 custom_getter=custom_getter, constraint=constraint)
    if not isinstance(name, str) or not name:
        raise TypeError(f"get_variable: name must be a non-empty str, got {name!r}")
    scope = get_variable_scope()
    full = f"{scope.name}/{name}" if scope.name else name
    want_dtype = dtype if dtype is not None else scope.dtype
    want_dtype = np.dtype(_as_dtype(want_dtype)) if want_dtype is not None else None
    want_shape = None
    if shape is not None:
        if type(shape) in (list, tuple) and all(type(d) is int and d >= 0 for d in shape):
            want_shape = tuple(shape)  # the common case, without building a TensorShape
        else:
            want_shape = tuple(_graph._static_shape("get_variable", shape))
    store = _current_store()
    reuse = scope.reuse
    entry = store._vars.get(full)
    if entry is not None:
        if reuse is not True and reuse is not AUTO_REUSE:
            raise ValueError(
                f"Variable {full} already exists, disallowed. Did you mean to set reuse=True "
                f"or reuse=ft.AUTO_REUSE in VarScope? Originally defined at: {entry.where}\n"
                f"  asked for again at {_where()}")
        v = entry.variable
        if want_shape is not None and tuple(v.shape) != want_shape:
            raise ValueError(
                f"Trying to share variable {full}, but specified shape {want_shape} and found "
                f"shape {tuple(v.shape)} (at {_where()})")
        if want_dtype is not None and v.dtype != want_dtype:
            raise ValueError(
                f"Trying to share variable {full}, but specified dtype {want_dtype.name} and "
                f"found dtype {v.dtype.name} (at {_where()})")
        return v
    if reuse is True:
        raise ValueError(
            f"Variable {full} does not exist, or was not created with ft.get_variable(). Did "
            f"you mean to set reuse=ft.AUTO_REUSE in VarScope? (at {_where()})")
    v = _create(full, want_shape, want_dtype, initializer, scope, trainable)
    store._vars[full] = _Entry(v, _where())
    if _core.staging():
        g = _graph.get_default_graph()
        for c in collections or ():
            if c not in ("variables", "trainable_variables"):
                g.add_to_collection(c, v)
        reg = regularizer if regularizer is not None else scope.regularizer
        if reg is not None:
            with _graph.name_scope(full + "/Regularizer/"):
                loss = reg(v)
            if loss is not None:
                g.add_to_collection("regularization_losses", loss)
    elif regularizer is not None:
        raise NotImplementedError(
            f"get_variable {full}: regularizer= needs a graph (its loss goes to the "
            "'regularization_losses' collection); in eager code add the regularizer's loss to "
            "the loss yourself")
    return v


def _create(full, shape, dtype, initializer, scope, trainable):
    if initializer is None:
        initializer = scope.initializer
    if dtype is None:
        dtype = np.dtype(np.float32) if not _is_value(initializer) else None
    if initializer is None:
        initializer = _default_initializer(full, dtype)
    if isinstance(initializer, type):
        initializer = initializer()
    if _is_value(initializer):
        if shape is not None:
            raise ValueError(f"get_variable {full}: if initializer is a constant, do not "
                             f"specify shape (got shape {shape})")
        value = initializer

        def init():
            return (initializer if _core.is_symbolic(initializer) else
                    _core.convert_to_tensor(value, dtype))
    else:
        if not callable(initializer):
            raise TypeError(f"get_variable {full}: initializer must be an initializer, a "
                            f"class or a value, got {_errors.describe(initializer)}")
        if shape is None or any(d is None for d in shape):
            raise ValueError(f"Shape of a new variable ({full}) must be fully defined, but "
                             f"instead was {shape}.")

        def init():
            return initializer(shape, dtype=dtype)

    from fasttape._core.core import Variable

    trainable = True if trainable is None else bool(trainable)
    ns = _graph.name_scope("") if _core.staging() else contextlib.nullcontext()
    with ns:
        return Variable(init, trainable=trainable, name=full, dtype=dtype)


def _is_value(x):
    return isinstance(x, (_core.Tensor, np.ndarray, list, tuple, int, float, bool, np.generic))


# ----------------------------------------------------------------- make_template

class Template:
    """A function wrapped by `make_template`: its first call creates the
    variables it asks `get_variable` for, later calls reuse them."""

    def __init__(self, name, func, create_scope_now=False, unique_name=None,
                 custom_getter=None):
        if custom_getter is not None:
            raise NotImplementedError("make_template: custom_getter_= is not supported")
        if not callable(func):
            raise TypeError(f"make_template: func_ must be callable, got "
                            f"{_errors.describe(func)}")
        if not isinstance(name, str) or not name:
            raise ValueError(f"make_template: name_ must be a non-empty str, got {name!r}")
        self._name = name
        self._func = func
        self._unique_name = unique_name
        self._store = _VariableStore()
        self._variable_scope = None
        self._variables_created = False
        if create_scope_now:
            with variable_scope(unique_name, default_name=name) as vs:
                self._variable_scope = vs

    def __call__(self, *args, **kwargs):
        stack = _stores()
        if not self._variables_created and stack and self._store not in stack[-1]._children:
            stack[-1]._children.append(self._store)
        with _store_scope(self._store):
            if self._variable_scope is not None:
                reuse = True if self._variables_created else None
                with variable_scope(self._variable_scope, reuse=reuse):
                    return self._call_func(args, kwargs)
            with variable_scope(self._unique_name, default_name=self._name) as vs:
                self._variable_scope = vs
                return self._call_func(args, kwargs)

    def _call_func(self, args, kwargs):
        g = _graph.get_default_graph() if _core.staging() else None
        before = len(g.get_collection("trainable_variables")) if g is not None else None
        result = self._func(*args, **kwargs)
        if self._variables_created and g is not None:
            made = g.get_collection("trainable_variables")[before:]
            if made:
                raise ValueError(
                    f"Trainable variable created when calling a template after the first "
                    f"time, perhaps you used ft.Variable when you meant ft.get_variable: "
                    f"{[v.name for v in made]} (template '{self.variable_scope_name}')")
        self._variables_created = True
        return result

    @property
    def name(self):
        return self._name

    @property
    def func(self):
        return self._func

    @property
    def variable_scope(self):
        return self._variable_scope

    @property
    def variable_scope_name(self):
        """The name of the template's variable scope ("name", "name_1", ...);
        None before the scope exists (first call, or create_scope_now_)."""
        return None if self._variable_scope is None else self._variable_scope.name

    @property
    def variables(self):
        """The variables the template made (those of templates it called first
        included), in creation order."""
        return self._store.variables()

    @property
    def trainable_variables(self):
        return [v for v in self.variables if v.trainable]

    @property
    def non_trainable_variables(self):
        return [v for v in self.variables if not v.trainable]

    global_variables = variables
    trainable_weights = trainable_variables
    weights = variables

    def __repr__(self):
        return (f"<ft.Template '{self.variable_scope_name or self._name}' of "
                f"{getattr(self._func, '__qualname__', self._func)!s}>")


def make_template(name_, func_, create_scope_now_=False, unique_name_=None,
                  custom_getter_=None, **kwargs):
    """Wraps `func_` so that the variables it makes with `ft.get_variable`
    are created on the first call and reused on later calls (TensorFlow 1's
    `tf.make_template`; `kwargs` are bound to `func_`).

    The variables live in the scope `name_` made unique ("name_", "name__1",
    ...) or exactly `unique_name_`; `create_scope_now_` opens it at once
    instead of on the first call. Works alike in eager mode, in graph mode and
    inside ft.function (Note [Variable stores]).

    >>> import fasttape as ft
    >>> def dense(x):
    ...     w = ft.get_variable("w", [2, 1], initializer=ft.ones_initializer())
    ...     return ft.matmul(x, w)
    >>> layer = ft.make_template("dense", dense)
    >>> y1 = layer(ft.constant([[1.0, 2.0]]))
    >>> y2 = layer(ft.constant([[3.0, 4.0]]))
    >>> [v.name for v in layer.variables], y2.numpy()
    (['dense.../w:0'], array([[7.]], dtype=float32))
    """
    if kwargs:
        func_ = functools.partial(func_, **kwargs)
    return Template(name_, func_, create_scope_now_, unique_name_, custom_getter_)


# ---------------------------------------------------- TensorFlow 1's initializers

def _v1(keras_cls, doc, **defaults):
    """TensorFlow 1's initializer class over Keras's `keras_cls`: TF1's default
    arguments, a `dtype` argument, and `__call__(shape, dtype=None,
    partition_info=None)`."""
    params = list(defaults)

    def __init__(self, *args, dtype=np.float32, **kw):
        bound = dict(defaults)
        bound.update(zip(params, args))
        bound.update(kw)
        unknown = set(bound) - set(defaults)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown arguments {sorted(unknown)}")
        self.dtype = np.dtype(_init._dtype(dtype))
        keras_cls.__init__(self, **bound)

    def __call__(self, shape, dtype=None, partition_info=None):
        return keras_cls.__call__(self, shape, self.dtype if dtype is None else dtype)

    def get_config(self):
        cfg = keras_cls.get_config(self)
        cfg["dtype"] = self.dtype.name
        return cfg

    return __init__, __call__, get_config, doc


def _make_v1(name, keras_cls, doc, **defaults):
    init, call, cfg, doc = _v1(keras_cls, doc, **defaults)
    return type(name, (keras_cls,), {"__init__": init, "__call__": call, "get_config": cfg,
                                     "__doc__": doc, "__module__": __name__})


zeros_initializer = _make_v1("zeros_initializer", _init.Zeros, "All zeros (TensorFlow 1).")
ones_initializer = _make_v1("ones_initializer", _init.Ones, "All ones (TensorFlow 1).")
random_normal_initializer = _make_v1(
    "random_normal_initializer", _init.RandomNormal,
    "Normal draws, TensorFlow 1's defaults mean=0.0, stddev=1.0.",
    mean=0.0, stddev=1.0, seed=None)
truncated_normal_initializer = _make_v1(
    "truncated_normal_initializer", _init.TruncatedNormal,
    "Truncated normal draws, TensorFlow 1's defaults mean=0.0, stddev=1.0.",
    mean=0.0, stddev=1.0, seed=None)
random_uniform_initializer = _make_v1(
    "random_uniform_initializer", _init.RandomUniform,
    "Uniform draws in [minval, maxval), TensorFlow 1's defaults 0 and 1.",
    minval=0.0, maxval=1.0, seed=None)
variance_scaling_initializer = _make_v1(
    "variance_scaling_initializer", _init.VarianceScaling,
    "Keras's VarianceScaling with a dtype (TensorFlow 1).",
    scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None)
glorot_uniform_initializer = _make_v1(
    "glorot_uniform_initializer", _init.GlorotUniform,
    "Uniform in ±sqrt(6 / (fan_in + fan_out)) (TensorFlow 1's get_variable default).",
    seed=None)
glorot_normal_initializer = _make_v1(
    "glorot_normal_initializer", _init.GlorotNormal,
    "Truncated normal of variance 2 / (fan_in + fan_out) (TensorFlow 1).", seed=None)
orthogonal_initializer = _make_v1(
    "orthogonal_initializer", _init.Orthogonal,
    "A random orthogonal matrix times gain (TensorFlow 1).", gain=1.0, seed=None)


class constant_initializer(_init.Initializer):  # noqa: N801  (TensorFlow 1's name)
    """Every element `value` (a scalar), or `value`'s elements (an array or
    list of exactly the variable's size) reshaped to the shape."""

    def __init__(self, value=0, dtype=np.float32, verify_shape=False):
        self.value = value
        self.dtype = np.dtype(_init._dtype(dtype))
        self.verify_shape = verify_shape

    def __call__(self, shape, dtype=None, partition_info=None):
        shape = _init._shape(shape)
        dtype = self.dtype if dtype is None else np.dtype(_init._dtype(dtype))
        v = self.value
        if isinstance(v, _core.Tensor) and not _core.is_symbolic(v):
            v = v.numpy()
        arr = np.asarray(v)
        if arr.size == 1 and not self.verify_shape:
            return _array.fill(shape, _array.cast(arr.reshape(()), dtype))
        n = int(np.prod(shape))
        if arr.size != n or (self.verify_shape and arr.shape != shape):
            raise ValueError(f"constant_initializer: value of shape {arr.shape} ({arr.size} "
                             f"elements) for a variable of shape {shape} ({n} elements)")
        return _array.cast(_array.reshape(_core.convert_to_tensor(arr), shape), dtype)

    def get_config(self):
        return {"value": self.value, "dtype": self.dtype.name}

"""`ft.Module`: TensorFlow 2's base class for objects that own variables.

A Module finds its variables and submodules by walking its attributes (and the
lists, tuples and dicts in them); nothing has to be registered. Layers
(fasttape/layers/) derive from it.
"""

import functools
import re

from fasttape._core import core as _core
from fasttape.graph import name_scope as _name_scope

# Note [Module walking]
# ~~~~~~~~~~~~~~~~~~~~~
# `Module._flatten` yields the objects reachable from a module's attributes,
# as TensorFlow's tf.Module does:
# - a module's attributes are visited in sorted name order (TensorFlow's order,
#   so that `variables` does not depend on assignment order); Layer overrides
#   the order to attribute assignment order (Keras's), see Note [Layer tracking];
# - lists and tuples in order, dicts in sorted key order (insertion order when
#   the keys do not sort), nested containers recursively;
# - all the leaves of one module come before those of its submodules, which
#   are then walked in the order they were found (breadth first);
# - every object is yielded once (by id: tensors are unhashable), and a module
#   or container seen before is not walked again, so cycles (a child holding
#   its parent, a list holding itself) end.
# Attributes named in `_IGNORED_ATTRIBUTES` (the module's own bookkeeping) are
# skipped.

_IGNORED_ATTRIBUTES = frozenset({"_name", "_scope_name", "_checkpoint_pending"})

_VALID_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def camel_to_snake(name):
    """'MyDense2D' -> 'my_dense2d', as TensorFlow names a Module from its class."""
    s = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def _sorted_items(d):
    try:
        keys = sorted(d)
    except TypeError:
        keys = list(d)
    return [(k, d[k]) for k in keys]


def _leaves(value, seen_containers, out):
    """The leaves of a nested list/tuple/dict value, into `out`; containers
    already in `seen_containers` (ids) are skipped (a list holding itself)."""
    if isinstance(value, (list, tuple, dict)):
        if id(value) in seen_containers:
            return
        seen_containers.add(id(value))
        items = _sorted_items(value) if isinstance(value, dict) else enumerate(value)
        for _, v in items:
            _leaves(v, seen_containers, out)
    else:
        out.append(value)


class Module:
    """A named container of variables and submodules (TensorFlow's tf.Module).

    Variables, modules, and lists, tuples and dicts of them assigned as
    attributes are found by `variables`, `trainable_variables` and
    `submodules`; nothing is registered. See Note [Module walking].

    Args:
        name: the module's name, a Python identifier; by default the class
            name in snake_case ('Dense' -> 'dense'). Not made unique (as in
            TensorFlow; Keras layers are, see `ft.layers.Layer`).

    >>> import fasttape as ft
    >>> class Linear(ft.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.w = ft.Variable(2.0, name="w")
    ...         self.b = ft.Variable(1.0, name="b", trainable=False)
    ...     def __call__(self, x):
    ...         return self.w * x + self.b
    >>> m = Linear()
    >>> m.name, [v.name for v in m.variables], [v.name for v in m.trainable_variables]
    ('linear', ['b:0', 'w:0'], ['w:0'])
    """

    def __init__(self, name=None):
        if name is None:
            name = camel_to_snake(type(self).__name__)
        elif not isinstance(name, str) or not _VALID_NAME.match(name):
            raise ValueError(
                f"{name!r} is not a valid module name: module names must be valid Python "
                "identifiers (letters, digits and _, not starting with a digit)")
        self._name = name
        self._scope_name = name + "/"

    def __getattr__(self, name):
        # only reached when normal lookup fails
        if "_name" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__} has no attribute {name!r}: its __init__ must call "
                "super().__init__() before using the module")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def name(self):
        """The module's name (given at construction, or from the class name)."""
        return self._name

    @property
    def name_scope(self):
        """`ft.name_scope` of this module (`with m.name_scope:`): names the
        nodes built inside 'name/...' in a graph; re-entered as is."""
        return _name_scope(self._scope_name)

    # --- walking --------------------------------------------------------------------------

    def _attributes(self):
        """(name, value) of the attributes walked; see Note [Module walking]."""
        return [(k, v) for k, v in sorted(vars(self).items())
                if k not in _IGNORED_ATTRIBUTES]

    def _flatten(self, predicate, recursive=True):
        """The objects for which `predicate` holds, reachable from this
        module's attributes (each once); see Note [Module walking]."""
        if "_name" not in self.__dict__:
            self.__getattr__("_name")  # raises: super().__init__() was not called
        seen = {id(self)}
        seen_containers = set()
        queue = [self]
        out = []
        while queue:
            module = queue.pop(0)
            for _, value in module._attributes():
                leaves = []
                _leaves(value, seen_containers, leaves)
                for leaf in leaves:
                    if id(leaf) in seen:
                        continue
                    seen.add(id(leaf))
                    if predicate(leaf):
                        out.append(leaf)
                    if recursive and isinstance(leaf, Module):
                        queue.append(leaf)
        return out

    def _trackable_children(self):
        """{name: object} a checkpoint walks (Note [Object graph] in
        fasttape/train/checkpoint.py): the attributes."""
        return dict(self._attributes())

    @property
    def variables(self):
        """The variables of this module and its submodules (a tuple, each once)."""
        return tuple(self._flatten(_is_variable))

    @property
    def trainable_variables(self):
        """The variables with `trainable=True` of this module and its submodules."""
        return tuple(self._flatten(lambda v: _is_variable(v) and v.trainable))

    @property
    def non_trainable_variables(self):
        """The variables with `trainable=False` of this module and its submodules."""
        return tuple(self._flatten(lambda v: _is_variable(v) and not v.trainable))

    @property
    def submodules(self):
        """Every module reachable from this one (not itself), each once,
        breadth first."""
        return tuple(self._flatten(lambda m: isinstance(m, Module)))

    @classmethod
    def with_name_scope(cls, method):
        """Decorates a method so that it runs inside the module's name scope.

        >>> import fasttape as ft
        >>> class M(ft.Module):
        ...     @ft.Module.with_name_scope
        ...     def __call__(self, x):
        ...         return x * 2.0
        >>> float(M()(ft.constant(3.0)))
        6.0
        """

        @functools.wraps(method)
        def wrapped(self, *args, **kwargs):
            with self.name_scope:
                return method(self, *args, **kwargs)

        return wrapped

    def __repr__(self):
        return f"<{type(self).__module__}.{type(self).__qualname__} name={self._name!r}>"


def _is_variable(v):
    return isinstance(v, _core.Variable)

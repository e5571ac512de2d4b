"""`ft.train.Checkpoint`: object-based checkpoints (TensorFlow 2's).

Note [Object graph]
~~~~~~~~~~~~~~~~~~~
A checkpoint saves the graph of trackable objects reachable from the
Checkpoint, not a list of variables: each object is a node, each edge is named
by how its parent holds it, and a variable's value is stored under the path of
the first (breadth-first) route to it: `model/dense/kernel`. The children of
an object are (`_trackable_children()`):
- Checkpoint: its keyword arguments and `save_counter`;
- ft.Module: its attributes (lists, tuples and dicts of them become nodes
  whose edges are the indices and keys); a Layer also names the weights of
  `add_weight` by their weight name ('kernel'), before its attributes;
- Optimizer: 'iter' (iterations) and 'learning_rate'; its slot variables are
  attached to the node of the variable they belong to
  (`model/dense/kernel/.OPTIMIZER_SLOT/optimizer/m`), so they restore into
  whichever variable the model's graph matches, as in TensorFlow;
- Metric: its state variables by name;
- any object defining `_trackable_children()` ({name: object}).
Restoring walks the saved graph and the live objects together from the root,
matching edges by name: variable names, creation order and Python ids do not
matter, only the structure.

Note [Deferred restoration]
~~~~~~~~~~~~~~~~~~~~~~~~~~~
Objects often make their variables after `restore`: a Layer builds on its
first call, an optimizer makes its slots on its first step. When the walk
finds a saved child that the live object does not have yet, the restore
registers itself on that object (in its `_checkpoint_pending` list; the
nearest object that has a __dict__ when the parent is a list or dict). Layers
call `fasttape._trackable.created(self)` after `build` and `add_weight`, and
optimizers `created(self, var)` after making `var`'s slots; the restore then
walks that object again and assigns the saved values to the new variables
(slots: a dict lookup, no walk). Values still waiting are copied out of the
file's buffer, which is then freed. A status's `assert_*` walks the whole
graph again first, which also catches plain Modules that set variables as
attributes in __call__ (they have no hook).

When the last reference to a status goes (or at exit) while saved values
were never restored, one warning lists how many and the first few paths
(`expect_partial()` silences it): not a line per variable.
"""

import os
import warnings
import weakref

import numpy as np

from fasttape._core import core as _core
from fasttape._trackable import PENDING_ATTR, created
from fasttape.module import _sorted_items
from fasttape.train import _format

Variable = _core.Variable

_SLOT = ".OPTIMIZER_SLOT"


# --- the live object graph ----------------------------------------------------------------

def _is_container(obj):
    return isinstance(obj, (list, tuple, dict))


def _maybe_trackable(obj):
    return (isinstance(obj, Variable) or _is_container(obj)
            or hasattr(type(obj), "_trackable_children"))


def _children(obj):
    """[(escaped edge name, child)] of a trackable object; see Note [Object graph]."""
    if isinstance(obj, Variable):
        return []
    if isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    elif isinstance(obj, dict):
        items = _sorted_items(obj)
    else:
        items = obj._trackable_children().items()
    return [(_format.escape_name(k), v) for k, v in items if _maybe_trackable(v)]


def _holds_trackables(container, seen):
    """True if a list/tuple/dict holds (at any depth) a non-container trackable."""
    if id(container) in seen:
        return False
    seen.add(id(container))
    for _, child in _children(container):
        if not _is_container(child) or _holds_trackables(child, seen):
            return True
    return False


def _slots_of(obj):
    fn = getattr(type(obj), "_trackable_slots", None)
    return fn(obj) if fn is not None else ()


def _get_slot(optimizer, variable, slot_name):
    for var, slots in _slots_of(optimizer):
        if var is variable:
            return slots.get(slot_name)
    return None


class _Graph:
    """The live graph from a root: `objects` (node id -> object), `paths`,
    `edges`, `slots` {optimizer node: [(variable node, slot name, slot node)]}."""

    def __init__(self, root):
        self.objects, self.paths, self.edges = [root], [""], [[]]
        self.index = {id(root): 0}
        i = 0
        while i < len(self.objects):
            obj = self.objects[i]
            for name, child in _children(obj):
                cid = self.index.get(id(child))
                if cid is None:
                    if _is_container(child) and not _holds_trackables(child, set()):
                        continue
                    cid = self._add(child, f"{self.paths[i]}/{name}" if self.paths[i] else name)
                self.edges[i].append([name, cid])
            i += 1
        self.slots = {}
        for i in range(len(self.objects)):
            for var, slots in _slots_of(self.objects[i]):
                vid = self.index.get(id(var))
                if vid is None:  # a variable outside the graph: its slots are not saved
                    continue
                for slot_name, slot in slots.items():
                    sid = self.index.get(id(slot))
                    if sid is None:
                        path = f"{self.paths[vid]}/{_SLOT}/{self.paths[i]}/" \
                               f"{_format.escape_name(slot_name)}"
                        sid = self._add(slot, path)
                    self.slots.setdefault(i, []).append(
                        [vid, _format.escape_name(slot_name), sid])

    def _add(self, obj, path):
        self.index[id(obj)] = len(self.objects)
        self.objects.append(obj)
        self.paths.append(path)
        self.edges.append([])
        return len(self.objects) - 1

    def serialize(self):
        """(tensors [(key, array)], object graph dict) to write."""
        nodes, tensors = [], []
        for i, obj in enumerate(self.objects):
            node = {"path": self.paths[i], "class": type(obj).__name__,
                    "children": self.edges[i]}
            if isinstance(obj, Variable):
                if obj._graph_var is not None:
                    raise TypeError(
                        f"ft.train.Checkpoint: {self.paths[i]!r} is a graph variable "
                        f"({obj.name}); checkpoints save eager variables (use a Session's "
                        "Saver for graphs)")
                node["tensor"] = self.paths[i]
                tensors.append((self.paths[i], _core.tensor_value(obj)))
            if i in self.slots:
                node["slots"] = self.slots[i]
            nodes.append(node)
        return tensors, {"nodes": nodes}


# --- restoring ----------------------------------------------------------------------------

class _Progress:
    """What a restore still misses; shared with the finalizer that warns (it
    must not hold the status)."""

    def __init__(self, path, value_paths):
        self.path = path
        self.unrestored = dict(value_paths)  # node id -> path of saved values not restored
        self.silenced = False


def _warn_unrestored(progress):
    if progress.silenced or not progress.unrestored:
        return
    paths = sorted(progress.unrestored.values())
    shown = ", ".join(paths[:5]) + (", ..." if len(paths) > 5 else "")
    warnings.warn(
        f"ft.train.Checkpoint: {len(paths)} value(s) saved in {progress.path!r} were never "
        f"restored ({shown}): their objects were not created or not attached to the "
        "restored objects. Call status.expect_partial() on the restore's status if this "
        "is intended.", UserWarning, stacklevel=2)


class _Restore:
    """One restore: matches the saved graph to live objects, now and as they
    make variables later (See Note [Deferred restoration])."""

    def __init__(self, file, root):
        self.path = file.path
        self.root = root
        self.nodes = file.object_graph["nodes"]
        self.values = file.tensors  # key -> array
        self.matched = {}  # saved node id -> live object
        self.node_of = {}  # id(live object) -> saved node id
        self.slot_refs = {}  # variable node -> [(optimizer node, slot name, slot node)]
        for i, node in enumerate(self.nodes):
            for vid, name, sid in node.get("slots", ()):
                self.slot_refs.setdefault(vid, []).append((i, name, sid))
        self.progress = _Progress(self.path, {i: n.get("path") or n["tensor"]
                                              for i, n in enumerate(self.nodes)
                                              if n.get("tensor") is not None})
        self.waiting = {}  # id(object) -> object this restore is registered on
        # the objects still waiting hold this restore: it dies with them (or at exit)
        weakref.finalize(self, _warn_unrestored, self.progress)
        # Checkpoint(root=model): the model's children are the root node's; its
        # builds notify the model, which stands for the checkpoint
        ckpt_root = getattr(root, "_root", None) if isinstance(root, Checkpoint) else None
        self.alias = {} if ckpt_root is None else {id(ckpt_root): (ckpt_root, root)}

    # matching

    def walk(self, start=0, obj=None):
        """Matches the saved subtree of node `start` to `obj` (default the root)
        and assigns the values found; registers on objects still missing some."""
        obj = self.root if obj is None else obj
        assignments, still_missing, visited_owners = [], {}, {}
        stack = [(start, obj, obj)]
        visited = set()
        while stack:
            nid, live, owner = stack.pop()
            if nid in visited:
                continue
            prev = self.matched.get(nid)
            if prev is None:
                if id(live) in self.node_of:
                    continue  # already matched to another saved node
                self.matched[nid] = live
                self.node_of[id(live)] = nid
                if isinstance(live, Variable):
                    self._match_variable(nid, live, assignments, stack)
                    continue
            elif prev is not live or isinstance(live, Variable):
                continue
            visited.add(nid)
            if hasattr(live, "__dict__") and not _is_container(live):
                owner = live
                visited_owners[id(owner)] = owner
            node = self.nodes[nid]
            children = dict(_children(live))
            for name, cid in node.get("children", ()):
                child = children.get(name)
                if child is None:
                    still_missing[id(owner)] = owner
                else:
                    stack.append((cid, child, owner))
            for vid, name, sid in node.get("slots", ()):
                if sid in self.matched:
                    continue
                var = self.matched.get(vid)
                slot = _get_slot(live, var, name) if var is not None else None
                if slot is None:
                    still_missing[id(owner)] = owner
                else:
                    stack.append((sid, slot, owner))
        self._apply(assignments)
        for key, owner in visited_owners.items():
            if key not in still_missing:
                self._unregister(owner)
        for owner in still_missing.values():
            self._register(owner)

    def _match_variable(self, nid, var, assignments, stack):
        key = self.nodes[nid].get("tensor")
        if key is not None:
            assignments.append((nid, var, key))
        for opt_node, name, sid in self.slot_refs.get(nid, ()):
            opt = self.matched.get(opt_node)
            if opt is not None and sid not in self.matched:
                slot = _get_slot(opt, var, name)
                if slot is not None:
                    stack.append((sid, slot, opt))

    def _apply(self, assignments):
        for _, var, key in assignments:  # all checked before any is assigned
            value = self.values[key]
            if tuple(value.shape) != tuple(var.shape) or value.dtype != var.dtype:
                raise ValueError(
                    f"ft.train.Checkpoint: cannot restore {key!r} from {self.path!r}: the "
                    f"checkpoint holds shape {tuple(value.shape)} dtype {value.dtype}, the "
                    f"variable {var.name!r} has shape {tuple(var.shape)} dtype "
                    f"{np.dtype(var.dtype)}")
        for nid, var, key in assignments:
            var.assign(self.values.pop(key))
            self.progress.unrestored.pop(nid, None)

    def _register(self, owner):
        for stand_in, ckpt in self.alias.values():
            if ckpt is owner:
                self._register(stand_in)
        pending = owner.__dict__.setdefault(PENDING_ATTR, [])
        if self not in pending:
            pending.append(self)
        self.waiting[id(owner)] = owner

    def _unregister(self, owner):
        pending = owner.__dict__.get(PENDING_ATTR)
        if pending and self in pending:
            pending.remove(self)
            if not pending:
                del owner.__dict__[PENDING_ATTR]
        self.waiting.pop(id(owner), None)

    def _created(self, obj, variable=None):
        """The hook's callback (fasttape/_trackable.py)."""
        if id(obj) in self.alias and self.alias[id(obj)][0] is obj:
            obj = self.alias[id(obj)][1]
        nid = self.node_of.get(id(obj))
        if nid is None:
            return
        if variable is None:
            self.walk(nid, obj)
            return
        vid = self.node_of.get(id(variable))  # an optimizer made `variable`'s slots
        assignments, stack = [], []
        for opt_node, name, sid in self.slot_refs.get(vid, ()):
            if opt_node == nid and sid not in self.matched:
                slot = _get_slot(obj, variable, name)
                if slot is not None and id(slot) not in self.node_of:
                    self.matched[sid] = slot
                    self.node_of[id(slot)] = sid
                    self._match_variable(sid, slot, assignments, stack)
        self._apply(assignments)

    def detach_values(self):
        """Copies the values still waiting out of the file's buffer (then freed)."""
        self.values = {k: np.array(v) for k, v in self.values.items()}

    def finish(self):
        """Unregisters from every object when nothing is left to restore."""
        if not self.progress.unrestored:
            for owner in list(self.waiting.values()):
                self._unregister(owner)


class CheckpointLoadStatus:
    """What `Checkpoint.restore` / `read` returns: checks how the saved objects
    matched the live ones (TensorFlow's)."""

    def __init__(self, restore, checkpoint):
        self._restore = restore
        self._checkpoint = checkpoint

    def _refresh(self):
        self._restore.walk()
        self._restore.finish()

    def _unmatched_live(self):
        r = self._restore
        graph = _Graph(r.root)
        return [graph.paths[i] or "(root)" for i, obj in enumerate(graph.objects)
                if not _is_container(obj) and id(obj) not in r.node_of]

    def assert_consumed(self):
        """Raises AssertionError unless every saved value was restored and
        every live object (reachable from the checkpoint) was matched."""
        self._refresh()
        r = self._restore
        unrestored = sorted(r.progress.unrestored.values())
        unmatched_saved = sorted(n.get("path") or "(root)" for i, n in enumerate(r.nodes)
                                 if i not in r.matched and n.get("tensor") is None)
        live = self._unmatched_live()
        problems = []
        if unrestored:
            problems.append(f"{len(unrestored)} saved value(s) not restored: "
                            f"{_sample(unrestored)}")
        if unmatched_saved:
            problems.append(f"{len(unmatched_saved)} saved object(s) not matched: "
                            f"{_sample(unmatched_saved)}")
        if live:
            problems.append(f"{len(live)} live object(s) not in the checkpoint: {_sample(live)}")
        if problems:
            raise AssertionError(f"checkpoint {r.path!r} was not consumed: " + "; ".join(problems))
        return self

    def assert_existing_objects_matched(self):
        """Raises AssertionError if an existing object (reachable from the
        checkpoint) has no value in the checkpoint; saved values of objects
        not created yet are allowed."""
        self._refresh()
        live = self._unmatched_live()
        if live:
            raise AssertionError(
                f"checkpoint {self._restore.path!r}: {len(live)} existing object(s) are not "
                f"in the checkpoint: {_sample(live)}")
        return self

    def assert_nontrivial_match(self):
        """Raises AssertionError if nothing but the root matched."""
        self._refresh()
        if len(self._restore.matched) <= 1:
            raise AssertionError(f"checkpoint {self._restore.path!r}: nothing matched the "
                                 "objects being restored")
        return self

    def expect_partial(self):
        """Silences the warning about values never restored; returns self."""
        self._restore.progress.silenced = True
        return self

    def run_restore_ops(self, session=None):
        """Nothing to run: eager restores assign at once (TensorFlow 1 API)."""

    def initialize_or_restore(self, session=None):
        """Nothing to run: eager restores assign at once (TensorFlow 1 API)."""


class InitializationOnlyStatus:
    """`restore(None)`'s status: nothing was restored; the asserts fail
    (except `assert_existing_objects_matched` of nothing, as TensorFlow)."""

    def assert_consumed(self):
        raise AssertionError("no checkpoint was restored (restore(None))")

    def assert_existing_objects_matched(self):
        raise AssertionError("no checkpoint was restored (restore(None))")

    def assert_nontrivial_match(self):
        raise AssertionError("no checkpoint was restored (restore(None))")

    def expect_partial(self):
        return self

    def run_restore_ops(self, session=None):
        pass

    def initialize_or_restore(self, session=None):
        pass


def _sample(paths, n=8):
    return ", ".join(paths[:n]) + (f", ... ({len(paths) - n} more)" if len(paths) > n else "")


# --- Checkpoint -----------------------------------------------------------------------------

class Checkpoint:
    """Saves and restores a graph of trackable objects (TensorFlow 2's
    tf.train.Checkpoint): models, layers, modules, optimizers (with their
    slots and iteration count), metrics, variables and other checkpoints,
    given as keyword arguments, named by the object graph (See Note
    [Object graph]).

    >>> import fasttape as ft, tempfile, os
    >>> v = ft.Variable(3.0)
    >>> ckpt = ft.train.Checkpoint(v=v)
    >>> path = ckpt.save(os.path.join(tempfile.mkdtemp(), "ckpt"))
    >>> os.path.basename(path)
    'ckpt-1'
    >>> _ = v.assign(0.0)
    >>> ckpt.restore(path).assert_consumed() and float(v)
    3.0

    Args:
        root: an object whose children become the checkpoint's top level
            (as `Checkpoint(root=model)` in TensorFlow and `save_weights`).
        **kwargs: the objects to save, by name.
    """

    def __init__(self, root=None, **kwargs):
        deps = {}
        if root is not None:
            _check_trackable("root", root)
        for name, obj in kwargs.items():
            if name == "save_counter":
                raise ValueError("ft.train.Checkpoint: 'save_counter' is reserved (the "
                                 "checkpoint's own save count)")
            _check_trackable(name, obj)
            deps[name] = obj
        object.__setattr__(self, "_deps", deps)
        object.__setattr__(self, "_root", root)
        object.__setattr__(self, "_save_counter", None)

    def __setattr__(self, name, value):
        # ckpt.model = model adds a dependency (TensorFlow's)
        if not name.startswith("_") and _maybe_trackable(value) and not _is_container(value):
            self._deps[name] = value
            created(self)
        object.__setattr__(self, name, value)

    def __getattr__(self, name):
        deps = self.__dict__.get("_deps", {})
        if name in deps:
            return deps[name]
        raise AttributeError(f"'Checkpoint' object has no attribute {name!r}")

    @property
    def save_counter(self):
        """An int64 variable: the number of `save` calls (restored with the rest)."""
        if self._save_counter is None:
            object.__setattr__(self, "_save_counter", Variable(
                np.int64(0), trainable=False, name="save_counter"))
        return self._save_counter

    def _trackable_children(self):
        out = {} if self._root is None else {
            k: v for k, v in _children(self._root) if k != "save_counter"}
        out.update(self._deps)
        out["save_counter"] = self.save_counter
        return out

    def write(self, file_prefix, options=None):
        """Writes the checkpoint to the file `file_prefix` (atomically); returns
        the path. Does not count saves (see `save`)."""
        path = os.fspath(file_prefix)
        tensors, graph = _Graph(self).serialize()
        _format.write_checkpoint(path, tensors, graph,
                                 durable=getattr(options, "durable", True))
        return path

    def save(self, file_prefix, options=None):
        """Writes the checkpoint to `file_prefix-N` (N = save_counter after
        counting this save: 1, 2, ...), records it in the directory's
        'checkpoint' state file (see `ft.train.latest_checkpoint`); returns the path."""
        from fasttape.train import manager

        counter = self.save_counter
        counter.assign_add(np.int64(1))
        path = self.write(f"{os.fspath(file_prefix)}-{int(counter.numpy())}", options)
        manager._record_save(path)
        return path

    def read(self, save_path, options=None):
        """Restores from the file `save_path`; returns a CheckpointLoadStatus.
        Values of objects that do not exist yet are assigned when they are
        created (Note [Deferred restoration])."""
        file = _format.read_checkpoint(save_path)
        restore = _Restore(file, self)
        try:
            restore.walk()
        except BaseException:
            restore.progress.silenced = True  # the error says it all
            for owner in list(restore.waiting.values()):
                restore._unregister(owner)
            raise
        restore.detach_values()
        restore.finish()
        return CheckpointLoadStatus(restore, self)

    def restore(self, save_path, options=None):
        """As `read`; `save_path` may also be a directory (its latest
        checkpoint) or None (nothing restored: an InitializationOnlyStatus)."""
        if save_path is None:
            return InitializationOnlyStatus()
        save_path = os.fspath(save_path)
        if os.path.isdir(save_path):
            from fasttape.train.manager import latest_checkpoint

            latest = latest_checkpoint(save_path)
            if latest is None:
                raise FileNotFoundError(f"ft.train.Checkpoint.restore: no checkpoint in "
                                        f"directory {save_path!r}")
            save_path = latest
        return self.read(save_path, options)

    def __repr__(self):
        return f"<ft.train.Checkpoint {sorted(self._deps)}>"


def _check_trackable(name, obj):
    if not _maybe_trackable(obj) or (_is_container(obj) and not _holds_trackables(obj, set())):
        raise TypeError(
            f"ft.train.Checkpoint: {name}= must be a trackable object (a variable, "
            "ft.Module or layer, optimizer, metric, checkpoint, or a list/dict of them), got "
            f"{type(obj).__name__}")


class CheckpointOptions:
    """Options of `write`/`save`: `durable=False` skips the fsyncs (faster,
    still atomic against crashes of the process, not of the machine)."""

    def __init__(self, durable=True):
        self.durable = bool(durable)

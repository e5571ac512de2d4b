"""Nested structures of tensors (lists, tuples, dicts), as tf.nest: flatten and pack."""


def flatten(structure):
    """The leaves of a nested list/tuple/dict (dicts in sorted key order)."""
    out = []
    _flatten(structure, out)
    return out


def _flatten(s, out):
    if isinstance(s, dict):
        for k in sorted(s):
            _flatten(s[k], out)
    elif isinstance(s, (list, tuple)):
        for v in s:
            _flatten(v, out)
    else:
        out.append(s)


def pack_sequence_as(structure, flat):
    """`flat` (leaves) rebuilt in the shape of `structure`."""
    it = iter(flat)
    return _pack(structure, it)


def _pack(s, it):
    if isinstance(s, dict):
        return type(s)((k, _pack(s[k], it)) for k in sorted(s))
    if isinstance(s, tuple) and hasattr(s, "_fields"):  # namedtuple
        return type(s)(*[_pack(v, it) for v in s])
    if isinstance(s, (list, tuple)):
        return type(s)(_pack(v, it) for v in s)
    return next(it)

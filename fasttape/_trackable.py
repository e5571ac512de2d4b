"""The hook through which objects that make variables late (a layer built on
its first call, an optimizer making slots on its first step) receive values a
checkpoint restore saved for them. See Note [Deferred restoration] in
fasttape/train/checkpoint.py.

It lives outside fasttape/train so that layers and optimizers can call it
without importing the checkpoint machinery; it costs one dict lookup when no
restore is waiting.
"""

PENDING_ATTR = "_checkpoint_pending"


def created(obj, variable=None):
    """Tells the restores waiting on `obj` that it made new variables
    (`variable`: the model variable an optimizer just made slots for)."""
    pending = obj.__dict__.get(PENDING_ATTR)
    if pending:
        for restore in list(pending):
            restore._created(obj, variable)

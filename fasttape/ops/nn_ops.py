"""The op table, part 4: neural-network ops (softmax family and losses).

Numerically stable forms: softmax and log_softmax subtract the row maximum;
the cross-entropy returns TensorFlow's (loss, backprop) pair internally so
that the backward pass reuses the forward's softmax.
"""

import numpy as np

from fasttape import errors
from fasttape.ops._registry import Tensor, convert_to_tensor, normalize_axis, public, register


def _float(op_name, x, name="logits"):
    x = x if isinstance(x, Tensor) else convert_to_tensor(x)
    if x.dtype.kind != "f":
        raise errors.op_error(TypeError, op_name, (x,),
                              f"expects a floating-point tensor, got {x.dtype.name}", (name,))
    return x


def _softmax(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(x, axis):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


_softmax_op = register(
    "softmax", "nn", _softmax, ("logits",),
    lambda g, out, axis: out * (g - np.sum(g * out, axis=axis, keepdims=True)),
    attr_names=("axis",), shape_fn=lambda s, a: s)
_log_softmax_op = register(
    "log_softmax", "nn", _log_softmax, ("logits",),
    lambda g, out, axis: g - np.exp(out) * np.sum(g, axis=axis, keepdims=True),
    attr_names=("axis",), shape_fn=lambda s, a: s)


@public("softmax", _softmax_op, None)
def softmax(logits, axis=-1, name=None):
    """exp(logits) / sum(exp(logits)) along `axis` (stable)."""
    x = _float("softmax", logits)
    return _softmax_op.apply((x,), (normalize_axis("softmax", x, axis)[0],))


@public("log_softmax", _log_softmax_op, None)
def log_softmax(logits, axis=-1, name=None):
    """logits - logsumexp(logits) along `axis` (stable)."""
    x = _float("log_softmax", logits)
    return _log_softmax_op.apply((x,), (normalize_axis("log_softmax", x, axis)[0],))


def _one_hot_like(labels, p):
    labels = labels.numpy() if isinstance(labels, Tensor) else labels
    out = np.zeros((labels.size, p.shape[-1]), dtype=p.dtype)
    out[np.arange(labels.size), labels.reshape(-1)] = 1
    return out.reshape(p.shape)


def _sparse_xent(labels, logits):
    c = logits.shape[-1]
    flat = logits.reshape(-1, c)
    lab = labels.reshape(-1)
    rows = np.arange(flat.shape[0])
    m = flat.max(axis=1, keepdims=True)
    e = np.exp(flat - m)
    s = e.sum(axis=1, keepdims=True)
    loss = np.log(s[:, 0]) + m[:, 0] - flat[rows, lab]
    backprop = e / s  # a fresh array: the forward may write into it
    backprop[rows, lab] -= 1
    return loss.reshape(labels.shape), backprop.reshape(logits.shape)


def _sparse_xent_vjp(g0, g1, out1, labels):
    # out1 = softmax(logits) - onehot(labels): d loss / d logits. Its own
    # cotangent g1 only arrives in higher-order sweeps. g0 may be a lazy
    # broadcast gradient (see Note [Broadcast gradients] in _core): [..., None]
    # keeps it broadcastable.
    grad = g0[..., None] * out1 if g0 is not None else None
    if g1 is not None:
        p = out1 + _one_hot_like(labels, out1)
        jvp = p * (g1 - np.sum(g1 * p, axis=-1, keepdims=True))
        grad = jvp if grad is None else grad + jvp
    return grad


_sparse_xent_op = register(
    "sparse_softmax_cross_entropy_with_logits", "nn", _sparse_xent, ("labels", "logits"),
    {"logits": _sparse_xent_vjp}, n_out=2, broadcast_grads=True, batchable=True)


@public("sparse_softmax_cross_entropy_with_logits", _sparse_xent_op, None)
def sparse_softmax_cross_entropy_with_logits(labels, logits, name=None):
    """Cross-entropy of softmax(logits) against integer class `labels`, per example.

    labels: integers of shape logits.shape[:-1], each in [0, num_classes).
    """
    x = _float("sparse_softmax_cross_entropy_with_logits", logits)
    y = labels if isinstance(labels, Tensor) else convert_to_tensor(labels)
    names = ("labels", "logits")
    if y.dtype.kind not in "iu":
        raise errors.op_error(TypeError, "sparse_softmax_cross_entropy_with_logits", (y, x),
                              f"labels must be integers, got {y.dtype.name}", names)
    if x.ndim < 1 or y.shape != x.shape[:-1]:
        raise errors.op_error(ValueError, "sparse_softmax_cross_entropy_with_logits", (y, x),
                              "labels must have shape logits.shape[:-1]", names)
    lv = y.numpy()
    if lv.size and (lv.min() < 0 or lv.max() >= x.shape[-1]):
        raise errors.InvalidArgumentError(errors.op_error(
            ValueError, "sparse_softmax_cross_entropy_with_logits", (y, x),
            f"labels must lie in [0, {x.shape[-1]}), got [{lv.min()}, {lv.max()}]", names).args[0])
    loss, _ = _sparse_xent_op.apply((y, x))
    return loss

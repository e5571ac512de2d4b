"""fasttape quickstart: train a small MLP eagerly, save its weights, reload them.

A two-layer network classifies points of a synthetic three-class problem
(three noisy spirals). Everything runs eagerly: each step records the forward
pass on a GradientTape, asks it for the gradients and updates the variables
in place with assign_sub (plain SGD). Runs in a few seconds:

    python examples/quickstart.py
"""

import os
import tempfile

import numpy as np

import fasttape as ft


def make_spirals(n_per_class=200, n_classes=3, noise=0.25, seed=0):
    """Points on `n_classes` interleaved spirals; returns (x float32 (N, 2), labels int32 (N,))."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for c in range(n_classes):
        r = np.linspace(0.1, 1.0, n_per_class)
        theta = np.linspace(c * 2 * np.pi / n_classes, c * 2 * np.pi / n_classes + 5.0, n_per_class)
        theta = theta + rng.normal(0.0, noise, n_per_class)
        xs.append(np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1))
        ys.append(np.full(n_per_class, c))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int32)


class MLP:
    """x -> relu(x W1 + b1) W2 + b2, with ft.Variable weights."""

    def __init__(self, w1, b1, w2, b2):
        self.w1 = ft.Variable(w1, name="w1")
        self.b1 = ft.Variable(b1, name="b1")
        self.w2 = ft.Variable(w2, name="w2")
        self.b2 = ft.Variable(b2, name="b2")

    @classmethod
    def initialized(cls, n_in, n_hidden, n_out, seed=0):
        """A new model with He-initialized weights and zero biases."""
        ft.random.set_seed(seed)
        return cls(
            ft.random.normal((n_in, n_hidden), stddev=(2.0 / n_in) ** 0.5),
            ft.zeros((n_hidden,)),
            ft.random.normal((n_hidden, n_out), stddev=(1.0 / n_hidden) ** 0.5),
            ft.zeros((n_out,)),
        )

    @property
    def variables(self):
        return [self.w1, self.b1, self.w2, self.b2]

    def __call__(self, x):
        h = ft.nn.relu(x @ self.w1 + self.b1)
        return h @ self.w2 + self.b2


def loss_fn(model, x, labels):
    logits = model(x)
    losses = ft.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return ft.reduce_mean(losses)


def accuracy(model, x, labels):
    predicted = ft.argmax(model(x), axis=1)
    return float(
        ft.reduce_mean(ft.cast(ft.equal(ft.cast(predicted, ft.int32), labels), ft.float32))
    )


def train(model, x, labels, epochs=200, batch_size=64, learning_rate=0.2, seed=0):
    rng = np.random.default_rng(seed)
    n = len(x)
    x_np, y_np = np.asarray(x), np.asarray(labels)
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            xb, yb = ft.constant(x_np[idx]), ft.constant(y_np[idx])
            with ft.GradientTape() as tape:  # trainable variables are watched on use
                loss = loss_fn(model, xb, yb)
            grads = tape.gradient(loss, model.variables)
            for v, g in zip(model.variables, grads, strict=True):
                v.assign_sub(learning_rate * g)
        if epoch == 1 or epoch % 20 == 0:
            print(
                f"epoch {epoch:4d}  loss {float(loss_fn(model, x, labels)):.4f}  "
                f"accuracy {accuracy(model, x, labels):.3f}"
            )


def main():
    x_np, y_np = make_spirals()
    x, labels = ft.constant(x_np), ft.constant(y_np)
    print(f"data: {x.shape[0]} points, {int(ft.reduce_max(labels)) + 1} classes")

    model = MLP.initialized(n_in=2, n_hidden=64, n_out=3)
    initial = float(loss_fn(model, x, labels))
    train(model, x, labels)
    final = float(loss_fn(model, x, labels))
    print(f"loss fell from {initial:.4f} to {final:.4f}")
    assert final < 0.5 * initial, "the loss should have fallen"

    # Save the weights as plain NumPy arrays and load them into fresh Variables.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "weights.npz")
        np.savez(path, **{v.name.split(":")[0]: v.numpy() for v in model.variables})
        with np.load(path) as saved:
            fresh = MLP(saved["w1"], saved["b1"], saved["w2"], saved["b2"])
    reloaded = float(loss_fn(fresh, x, labels))
    print(f"reloaded model loss {reloaded:.4f}, accuracy {accuracy(fresh, x, labels):.3f}")
    assert reloaded == final, "the reloaded model should give the same loss"
    print("reloaded weights give the same loss: OK")


if __name__ == "__main__":
    main()

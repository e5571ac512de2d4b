"""A subclassed ft.Model trained with a hand-written GradientTape loop on
scikit-learn's 8x8 digits (bundled, no download).

The same small convnet as digits_fit.py, but written as a Model subclass and
trained step by step: an ft.data pipeline feeds shuffled, randomly shifted
batches (digits_data.train_dataset), a
GradientTape records the forward pass, the optimizer applies the gradients,
and ft.metrics keep the running loss and accuracy, the whole step traced
into one graph by ft.function, as TensorFlow 2's custom training loops do.
Then the weights are saved to a checkpoint file and reloaded into a new
model. About ten seconds:

    pip install ".[examples]" && python examples/digits_custom_loop.py
"""

import os
import tempfile
import time

import numpy as np
from digits_data import (
    accuracy,
    load_digits_split,
    one_blas_thread,
    parse_args,
    train_dataset,
)

import fasttape as ft
from fasttape import layers


class ConvNet(ft.Model):
    """conv 3x3 (32) -> max pool -> conv 3x3 (64) -> max pool -> dropout ->
    dense (128) -> dense (10 logits)."""

    def __init__(self):
        super().__init__()
        self.conv1 = layers.Conv2D(32, 3, padding="same", activation="relu")
        self.pool1 = layers.MaxPool2D()
        self.conv2 = layers.Conv2D(64, 3, padding="same", activation="relu")
        self.pool2 = layers.MaxPool2D()
        self.flatten = layers.Flatten()
        self.dropout = layers.Dropout(0.3)
        self.hidden = layers.Dense(128, activation="relu")
        self.logits = layers.Dense(10)

    def call(self, x, training=False):
        x = self.pool1(self.conv1(x))
        x = self.pool2(self.conv2(x))
        x = self.dropout(self.flatten(x), training=training)
        return self.logits(self.hidden(x))


def main():
    args = parse_args(__doc__.splitlines()[0], epochs=20)
    one_blas_thread()
    (x_train, y_train), (x_test, y_test) = load_digits_split()
    ft.random.set_seed(0)

    model = ConvNet()
    batches = train_dataset(x_train, y_train, batch_size=64, seed=0)
    steps = args.epochs * len(batches)
    optimizer = ft.optimizers.Adam(ft.optimizers.schedules.CosineDecay(3e-3, steps))
    loss_fn = ft.losses.SparseCategoricalCrossentropy(from_logits=True)
    train_loss = ft.metrics.Mean()
    train_acc = ft.metrics.SparseCategoricalAccuracy()

    @ft.function  # one graph per batch shape: forward, tape, optimizer and metrics
    def train_step(x, y):
        with ft.GradientTape() as tape:
            logits = model(x, training=True)
            loss = loss_fn(y, logits)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        train_loss.update_state(loss)
        train_acc.update_state(y, logits)

    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        train_loss.reset_state()
        train_acc.reset_state()
        for x, y in batches:
            train_step(x, y)
        print(f"epoch {epoch:2d}/{args.epochs}: loss {float(train_loss.result()):.4f}, "
              f"accuracy {float(train_acc.result()):.4f}")
    seconds = time.perf_counter() - start

    test_accuracy = accuracy(model(x_test), y_test)
    print(f"trained in {seconds:.1f} s; test accuracy: {test_accuracy:.4f}")

    path = args.weights or os.path.join(tempfile.mkdtemp(), "digits_custom_loop.ckpt")
    model.save_weights(path)
    reloaded = ConvNet()
    reloaded.load_weights(path)  # restored when its layers build (first call)
    same = np.array_equal(np.asarray(reloaded(x_test)), np.asarray(model(x_test)))
    print(f"saved the weights to {path}; reloaded weights give the same predictions: "
          f"{'OK' if same else 'MISMATCH'}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

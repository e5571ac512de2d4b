"""A small convnet on scikit-learn's 8x8 digits (bundled, no download) with
ft.Sequential, compile and fit, as in Keras.

fit trains from an ft.data pipeline (shuffled, randomly shifted batches,
digits_data.train_dataset) and shows a progress bar per epoch with the loss
and accuracy (one line per epoch when the output is not a terminal); its
train step goes through ft.function unless compile(run_eagerly=True). Then
the model is evaluated on the held-out digits, its weights are saved to a checkpoint
file and reloaded into a new model. About ten seconds:

    pip install ".[examples]" && python examples/digits_fit.py
"""

import os
import tempfile
import time

import numpy as np
from digits_data import (
    load_digits_split,
    one_blas_thread,
    parse_args,
    train_dataset,
)

import fasttape as ft
from fasttape import layers


def make_model():
    """The same convnet as digits_custom_loop.py, as a Sequential stack."""
    return ft.Sequential([
        layers.Conv2D(32, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
        layers.MaxPool2D(),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.MaxPool2D(),
        layers.Flatten(),
        layers.Dropout(0.3),
        layers.Dense(128, activation="relu"),
        layers.Dense(10),
    ])


def main():
    args = parse_args(__doc__.splitlines()[0], epochs=20)
    one_blas_thread()
    (x_train, y_train), (x_test, y_test) = load_digits_split()
    ft.random.set_seed(0)

    model = make_model()
    model.summary()
    batches = train_dataset(x_train, y_train, batch_size=64, seed=0)
    steps = args.epochs * len(batches)
    model.compile(
        optimizer=ft.optimizers.Adam(ft.optimizers.schedules.CosineDecay(3e-3, steps)),
        loss=ft.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    model.fit(batches, epochs=args.epochs)
    seconds = time.perf_counter() - start

    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"trained in {seconds:.1f} s; test accuracy: {test_accuracy:.4f}")

    path = args.weights or os.path.join(tempfile.mkdtemp(), "digits_fit.ckpt")
    model.save_weights(path)  # an ft.train checkpoint file, written atomically
    reloaded = make_model()
    reloaded.load_weights(path).expect_partial()  # the weights; not the optimizer's slots
    same = np.array_equal(reloaded.predict(x_test, verbose=0), model.predict(x_test, verbose=0))
    print(f"saved the weights to {path}; reloaded weights give the same predictions: "
          f"{'OK' if same else 'MISMATCH'}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

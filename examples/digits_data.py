"""Shared by the digits examples: the data (scikit-learn's bundled 8x8 digits,
no download) and the command line."""

import argparse
import os

import numpy as np


def load_digits_split(seed=0, test_size=0.2):
    """(x_train, y_train), (x_test, y_test): images (N, 8, 8, 1) float32 in
    [0, 1] and int32 labels 0-9, split with stratification (fixed `seed`)."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise SystemExit('this example needs scikit-learn: pip install ".[examples]"') from None
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    y = digits.target.astype(np.int32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, random_state=seed,
                                              stratify=y)
    return (x_tr, y_tr), (x_te, y_te)


def train_dataset(x, y, batch_size=64, seed=0):
    """The training batches, an ft.data pipeline: shuffled each epoch, batched,
    each image shifted at random by up to one pixel in each direction (data
    augmentation: the digits are small, and the shifts make the test accuracy
    steadier), prepared in a background thread while the model trains."""
    import fasttape as ft

    rng = np.random.default_rng(seed)
    k = np.arange(8)

    def shift(images, labels):
        n = images.shape[0]
        di, dj = rng.integers(0, 3, size=(2, n, 1, 1))  # offsets into the padded image
        padded = ft.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]])
        return padded[np.arange(n)[:, None, None], di + k[:, None], dj + k], labels

    return (ft.data.Dataset.from_tensor_slices((x, y))
            .shuffle(len(x), seed=seed)
            .batch(batch_size)
            .map(shift)
            .prefetch(2))


def one_blas_thread():
    """Runs NumPy's BLAS on one thread: the matrices here are small, and on a
    busy machine several BLAS threads are much slower than one."""
    try:
        from threadpoolctl import threadpool_limits  # installed with scikit-learn
    except ImportError:
        return
    threadpool_limits(limits=1, user_api="blas")


def parse_args(description, epochs):
    """--epochs (default `epochs`; the FASTTAPE_EXAMPLE_EPOCHS environment
    variable overrides the default, for quick test runs) and --weights."""
    parser = argparse.ArgumentParser(description=description)
    default = int(os.environ.get("FASTTAPE_EXAMPLE_EPOCHS", epochs))
    parser.add_argument("--epochs", type=int, default=default,
                        help=f"training epochs (default {default})")
    parser.add_argument("--weights", default=None,
                        help="where to save the weights (a checkpoint file; default: temporary)")
    return parser.parse_args()


def accuracy(logits, labels):
    """The fraction of rows of `logits` whose argmax is the label."""
    return float(np.mean(np.argmax(np.asarray(logits), axis=1) == labels))

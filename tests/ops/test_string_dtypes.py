"""Strings of different lengths are one dtype, as TensorFlow's tf.string: the
multi-input ops widen them to the longest, never truncate (NumPy's string
dtypes are fixed-width)."""

import numpy as np
import pytest

import fasttape as ft

CALLS = {
    "where": lambda a, b: ft.where(ft.constant([True, False]), a, b),
    "concat": lambda a, b: ft.concat([a, b], 0),
    "stack": lambda a, b: ft.stack([a, b]),
    "equal": lambda a, b: ft.equal(a, b),
}
EXPECTED = {
    "where": lambda a, b: np.where([True, False], a, b),
    "concat": lambda a, b: np.concatenate([np.atleast_1d(a), np.atleast_1d(b)]),
    "stack": lambda a, b: np.stack([a, b]),
    "equal": lambda a, b: np.equal(a, b),
}


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("a,b", [(["", "x"], ["abc", "defg"]), (["abcdef", "g"], ["h", "ij"])])
@pytest.mark.parametrize("kind", ["tensors", "python"])
def test_strings_of_different_lengths_are_never_truncated(name, a, b, kind):
    if kind == "tensors":
        a_, b_ = ft.constant(a), ft.constant(b)
    else:
        a_, b_ = ft.constant(a), b
    got = CALLS[name](a_, b_).numpy()
    want = EXPECTED[name](np.array(a), np.array(b))
    assert got.tolist() == want.tolist()


def test_python_strings_alone():
    assert ft.where(ft.constant([True, False]), "", "abc").numpy().tolist() == ["", "abc"]

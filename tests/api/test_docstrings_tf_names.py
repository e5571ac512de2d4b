"""The examples in the docstrings of TensorShape, the math ops and TensorFlow's
everyday names (wherever their functions are made) run as doctests."""

import doctest

import pytest

import fasttape as ft
from fasttape import tensor_shape
from fasttape.ops import math_ops

_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("module", [tensor_shape, math_ops], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=_FLAGS)
    assert result.attempted > 0
    assert result.failed == 0


NAMES = [ft.add_n, ft.count_nonzero, ft.reduce_euclidean_norm, ft.math.segment_sum,
         ft.math.unsorted_segment_sum, ft.clip_by_norm, ft.clip_by_global_norm,
         ft.linalg.global_norm, ft.tensor_scatter_nd_update, ft.tensor_scatter_nd_add,
         ft.linalg.diag, ft.linalg.tensor_diag, ft.linalg.matvec, ft.shape, ft.size, ft.rank,
         ft.TensorShape]


@pytest.mark.parametrize("obj", NAMES, ids=lambda f: f.__name__)
def test_new_names_have_running_examples(obj):
    tests = doctest.DocTestFinder(recurse=False).find(obj, obj.__name__, globs={})
    runner = doctest.DocTestRunner(optionflags=_FLAGS)
    for t in tests:
        runner.run(t)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0, f"{obj.__name__} has no example"
    assert result.failed == 0

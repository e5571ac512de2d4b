"""The examples in the docstrings of the shape and linear-algebra ops run as doctests."""

import doctest

import pytest

import fasttape.linalg
from fasttape.ops import array_ops, linalg_ops


@pytest.mark.parametrize("module", [array_ops, linalg_ops, fasttape.linalg],
                         ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0

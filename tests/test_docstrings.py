"""The examples in the public docstrings (facade, core, tape, debugging, nn) run as doctests.
The shape and linear-algebra ops have theirs in tests/ops/test_docstrings_shape_linalg.py."""

import doctest

import pytest

import fasttape
import fasttape.backprop
import fasttape.contrib.eager
import fasttape.debugging
import fasttape.saved_function
import fasttape.script_ops
import fasttape.template
from fasttape._core import core
from fasttape.ops import nn_ops

MODULES = [fasttape, fasttape.backprop, fasttape.debugging, core, nn_ops, fasttape.script_ops,
           fasttape.template, fasttape.contrib.eager, fasttape.saved_function]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0

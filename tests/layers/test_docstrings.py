"""The examples in the docstrings of ft.Module, the layers, initializers,
activations and regularizers run as doctests."""

import doctest

import pytest

import fasttape.layers.base
import fasttape.layers.convolutional
import fasttape.layers.core
import fasttape.layers.normalization
import fasttape.layers.recurrent
import fasttape.module

MODULES = [fasttape.module, fasttape.layers.core, fasttape.layers.convolutional,
           fasttape.layers.normalization, fasttape.layers.recurrent]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0

"""The examples in the docstrings of ft.optimizers, ft.losses, ft.metrics and the models run."""

import doctest

import pytest

import fasttape.layers.input_layer
import fasttape.losses
import fasttape.metrics
import fasttape.models
import fasttape.optimizers
import fasttape.optimizers.algorithms
import fasttape.optimizers.schedules

MODULES = [fasttape.optimizers, fasttape.optimizers.algorithms, fasttape.optimizers.schedules,
           fasttape.losses, fasttape.metrics, fasttape.models, fasttape.layers.input_layer]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0

"""The examples in ft.data's docstrings run as doctests."""

import doctest

import pytest

import fasttape.data
import fasttape.data.dataset

MODULES = [fasttape.data, fasttape.data.dataset]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0

"""The op database covers the op table: every registered op has an OpSpec
(or is named in a spec's `covers`), and every differentiable op is gradient-checked."""

import fasttape as ft  # noqa: F401  (fills the op table)
from fasttape._core.core import registered_ops
from fasttape.testing.op_db import OP_SPECS, covered_ops, specs_by_name


def _table():
    # custom-gradient entries are made per user function (family "custom"):
    # tests/core/test_custom_gradient.py checks them
    return [op for op in registered_ops() if op.family != "custom"]


def test_every_registered_op_has_a_spec():
    missing = sorted(op.name for op in _table() if op.name not in covered_ops())
    assert not missing, f"ops without an OpSpec in fasttape/testing/op_db.py: {missing}"


def test_every_spec_names_a_registered_op_or_a_composite():
    table = {op.name for op in registered_ops()}
    unknown = sorted({s.label for s in OP_SPECS if not s.composite and s.name not in table}
                     | {c for s in OP_SPECS for c in s.covers if c not in table})
    assert not unknown, f"OpSpecs for ops that are not in the table: {unknown}"


def test_differentiable_ops_have_gradient_checked_specs():
    specs = specs_by_name()
    for op in _table():
        if op.name not in specs:
            continue  # covered through another op's spec
        flags = {s.differentiable for s in specs[op.name]}
        if op.differentiable:
            assert True in flags, f"{op.name} is differentiable but no spec checks its gradient"
        else:
            assert flags == {False}, f"{op.name} has no gradient but a spec checks one"


def test_every_spec_has_cases():
    empty = [s.label for s in OP_SPECS if not s.samples()]
    assert not empty, f"OpSpecs without any (shapes, attrs) case: {empty}"


def test_private_ops_are_covered_by_a_public_one():
    covers = {c: s.name for s in OP_SPECS for c in s.covers}
    for op in _table():
        if op.name.startswith("_"):
            assert op.name in covers, f"private op {op.name} is not covered by any spec"

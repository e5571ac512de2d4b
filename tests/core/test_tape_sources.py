"""A source that is itself a target gets that target's seed, whether or not
the tape watched it (TensorFlow's `sources_that_are_targets`)."""

import numpy as np

import fasttape as ft


def test_gradient_control_flow_example_of_the_autodiff_guide():
    x = ft.constant(1.0)
    v0 = ft.Variable(2.0)
    v1 = ft.Variable(2.0)
    with ft.GradientTape(persistent=True) as tape:
        tape.watch(x)
        if x > 0.0:
            result = v0
        else:
            result = v1**2
    dv0, dv1 = tape.gradient(result, [v0, v1])
    assert float(dv0) == 1.0
    assert dv1 is None


def test_unread_variable_and_unwatched_tensor_as_their_own_target():
    v = ft.Variable([1.0, 2.0])
    x = ft.constant(3.0)
    with ft.GradientTape(persistent=True) as tape:
        pass
    np.testing.assert_array_equal(tape.gradient(v, v).numpy(), [1.0, 1.0])
    assert float(tape.gradient(x, x)) == 1.0
    # the seed given by output_gradients, not ones
    np.testing.assert_array_equal(
        tape.gradient(v, v, output_gradients=ft.constant([5.0, 7.0])).numpy(), [5.0, 7.0])
    np.testing.assert_array_equal(tape.jacobian(v, v).numpy(), np.eye(2))
    # a source that is not a target stays None
    assert tape.gradient(x, v) is None


def test_source_among_several_targets_adds_its_seed():
    x = ft.constant([1.0, 2.0])
    u = ft.constant([5.0, 6.0])
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    # d(sum(y) + sum(x) + sum(u)) / d[x, u]: 2x + 1 for the watched x, 1 for the unwatched u
    gx, gu = tape.gradient([y, x, u], [x, u])
    np.testing.assert_array_equal(gx.numpy(), [3.0, 5.0])
    np.testing.assert_array_equal(gu.numpy(), [1.0, 1.0])


def test_integer_source_that_is_a_target_stays_none():
    i = ft.constant([1, 2])
    with ft.GradientTape() as tape:
        pass
    assert tape.gradient(i, i) is None

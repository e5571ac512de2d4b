"""erf and gelu as vectorised NumPy ufuncs (Note [Vectorised erf] in
fasttape/_core/_math.pxi): accuracy against math.erf over each dtype's whole
range, special values, shapes and strides, and the ops built on them."""

import math
import warnings

import numpy as np
import pytest

import fasttape as ft
from fasttape._core import core

ERF, GELU = core.erf_ufunc, core.gelu_ufunc
_erf64 = np.frompyfunc(math.erf, 1, 1)
_erfc64 = np.frompyfunc(math.erfc, 1, 1)


def _reference(x):
    """erf of x (any float dtype) in float64, by math.erf."""
    return np.asarray(_erf64(np.asarray(x, np.float64)), np.float64)


def _ulps(got, want):
    """Distance in units in the last place between arrays of one float dtype
    (monotone integer mapping of the bit patterns; NaN matched separately)."""
    bits = {2: np.int16, 4: np.int32, 8: np.int64}[got.dtype.itemsize]
    wide = np.int64

    def key(a):
        i = a.view(bits).astype(wide)
        return np.where(i < 0, np.iinfo(bits).min - i, i)

    return np.abs(key(got) - key(want))


def _float32_sample():
    """~1.5 M float32: every float32 in [0.5, 0.5 + 2^-9) and [2, 2 + 2^-7) (one
    binade's worth of consecutive values each), a dense uniform sweep of
    [-5, 5], logarithmic sweeps of both signs from the smallest subnormal to
    the largest finite value, and the boundaries."""
    rng = np.random.default_rng(20261202)
    parts = [
        np.arange(np.float32(0.5).view(np.int32), np.float32(0.5).view(np.int32) + 2**15,
                  dtype=np.int32).view(np.float32),
        np.arange(np.float32(2.0).view(np.int32), np.float32(2.0).view(np.int32) + 2**16,
                  dtype=np.int32).view(np.float32),
        np.linspace(-5, 5, 600_001, dtype=np.float32),
        rng.uniform(-4.5, 4.5, 300_000).astype(np.float32),
    ]
    mags = np.logspace(-45.2, 38.5, 200_000).astype(np.float32)
    parts += [mags, -mags]
    tiny = np.arange(1, 2**12, dtype=np.int32).view(np.float32)  # subnormals
    parts += [tiny, -tiny, np.array([3.9, 3.92, 3.95, 4.0, 4.0001, 10.0, 3e38], np.float32)]
    return np.concatenate(parts)


def test_erf_float32_within_one_ulp_of_erf_rounded():
    x = _float32_sample()
    want = _reference(x).astype(np.float32)
    got = ERF(x)
    worst = _ulps(got, want)
    assert worst.max() <= 1, (x[worst.argmax()], got[worst.argmax()], want[worst.argmax()])


def test_erf_float16_every_value():
    x = np.arange(2**16, dtype=np.uint16).view(np.float16)
    finite = np.isfinite(x)
    want = _reference(x[finite]).astype(np.float16)
    with np.errstate(invalid="ignore"):  # the signaling NaNs among the patterns
        got = ERF(x)
    assert _ulps(got[finite], want).max() <= 1
    assert np.isnan(got[np.isnan(x)]).all()


def test_erf_float64_matches_math_erf():
    rng = np.random.default_rng(7)
    mags = np.logspace(-320, 308, 100_000)
    x = np.concatenate([rng.uniform(-7, 7, 200_000), mags, -mags,
                        np.array([5e-324, -5e-324, 6.0, 27.0, 1e300])])
    assert _ulps(ERF(x), _reference(x)).max() <= 2


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_erf_special_values(dtype):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 6e4, -6e4], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no FE_INVALID from NaN comparisons
        got = ERF(x)
        g = GELU(x)
    assert got.dtype == dtype
    assert np.isnan(got[0]) and np.isnan(g[0])
    np.testing.assert_array_equal(got[1:], [1, -1, 0, 0, 1, -1])
    assert not np.signbit(got[3]) and np.signbit(got[4])
    assert g[1] == np.inf and g[2] == 0 and g[3] == 0  # gelu(-inf) is its limit
    assert g[5] == x[5] and g[6] == 0


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_ufuncs_take_any_shape_and_stride(dtype):
    rng = np.random.default_rng(3)
    base = rng.uniform(-3, 3, (6, 10)).astype(dtype)
    for x in (base, base[:, ::3], base.T, base[2, 4], base[:0]):
        for f, ref in ((ERF, _reference), (GELU, None)):
            got = f(x)
            assert got.shape == np.shape(x) and got.dtype == dtype
            np.testing.assert_array_equal(got, f(np.ascontiguousarray(x)))
            if ref is not None:
                np.testing.assert_allclose(got, ref(np.asarray(x)), rtol=2e-3, atol=1e-3)
    out = np.empty((6, 10), dtype)
    assert ERF(base, out=out) is out
    np.testing.assert_array_equal(out, ERF(base))
    inplace = base.copy()
    ERF(inplace, out=inplace)
    np.testing.assert_array_equal(inplace, ERF(base))


def _gelu64(x):
    return 0.5 * x * np.asarray(_erfc64(-x / math.sqrt(2)), np.float64)


def test_gelu_float64_relative_accuracy():
    x = np.concatenate([np.linspace(-30, 30, 200_001), np.logspace(-300, 300, 10_000)])
    want = _gelu64(x)
    got = GELU(x)
    nz = want != 0
    # erfc(z) ~ exp(-z^2): a relative change d of z changes it by 2 z^2 d
    rel = np.abs(got[nz] - want[nz]) / np.abs(want[nz])
    assert np.all(rel <= 4e-16 * (4 + np.minimum(np.abs(x[nz]), 1e100) ** 2))
    assert (got[~nz] == 0).all()


def test_gelu_float32_absolute_accuracy():
    x = _float32_sample()
    x = x[np.abs(x) < 1e30]
    want = _gelu64(x.astype(np.float64))
    err = np.abs(GELU(x) - want)
    # as accurate as float32 erf allows: a few ulp of x where gelu ~ x, and of
    # |x| * ulp(1) where 1 + erf cancels (x < 0)
    assert np.all(err <= 4 * np.spacing(np.abs(want).astype(np.float32)) + 2e-7 * np.abs(x))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("approximate", [False, True])
def test_gelu_op_and_its_gradient(dtype, approximate):
    x = ft.constant(np.linspace(-4, 4, 33).astype(dtype))
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = ft.nn.gelu(x, approximate=approximate)
    (g,) = tape.gradient(y, [x])
    xs = np.linspace(-4, 4, 33)
    if approximate:
        c = math.sqrt(2 / math.pi)
        want = 0.5 * xs * (1 + np.tanh(c * (xs + 0.044715 * xs**3)))
    else:
        want = _gelu64(xs)
    pdf = np.exp(-0.5 * xs * xs) / math.sqrt(2 * math.pi)
    tol = {np.float16: 2e-2, np.float32: 2e-6, np.float64: 1e-12}[dtype]
    assert y.dtype == dtype and g.dtype == dtype
    np.testing.assert_allclose(y.numpy(), want, rtol=tol, atol=tol)
    if not approximate:
        dwant = 0.5 * np.asarray(_erfc64(-xs / math.sqrt(2)), np.float64) + xs * pdf
        np.testing.assert_allclose(g.numpy(), dwant, rtol=tol, atol=tol)


def test_erf_op_gradient_and_second_order():
    x = ft.constant(np.linspace(-3, 3, 13))
    with ft.GradientTape() as outer:
        outer.watch(x)
        with ft.GradientTape() as inner:
            inner.watch(x)
            y = ft.math.erf(x)
        (g,) = inner.gradient(y, [x])
    (h,) = outer.gradient(g, [x])
    xs = np.linspace(-3, 3, 13)
    dy = 2 / math.sqrt(math.pi) * np.exp(-xs * xs)
    np.testing.assert_allclose(y.numpy(), _reference(xs), rtol=1e-15)
    np.testing.assert_allclose(g.numpy(), dy, rtol=1e-14)
    np.testing.assert_allclose(h.numpy(), -2 * xs * dy, rtol=1e-12, atol=1e-15)

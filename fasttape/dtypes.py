"""dtypes: fasttape's dtypes are NumPy dtypes (`ft.float32 is np.dtype('float32')`)."""

import numpy as np

bool = np.dtype(np.bool_)  # noqa: A001
float16 = half = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = double = np.dtype(np.float64)
int8 = np.dtype(np.int8)
int16 = np.dtype(np.int16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
uint16 = np.dtype(np.uint16)
uint32 = np.dtype(np.uint32)
uint64 = np.dtype(np.uint64)
complex64 = np.dtype(np.complex64)
complex128 = np.dtype(np.complex128)
string = np.dtype(np.str_)


def as_dtype(x):
    """The dtype named or given by `x`."""
    return np.dtype(x)

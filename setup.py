"""Build of fasttape's compiled core: the extension list and cythonize's global directives.

Everything else (metadata, dependencies, extras, tool settings) is in pyproject.toml.
Set FASTTAPE_DEBUG=1 for bounds and initialisation checks and C assertions.
"""

import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("FASTTAPE_DEBUG") == "1"
# -fno-math-errno: no C code here reads errno, and with it gcc vectorises sqrt
C_ARGS = (["-O0", "-g"] if DEBUG else ["-O2"]) + ["-fno-math-errno"]

extensions = [
    Extension(
        "fasttape._core.core",
        ["fasttape/_core/core.pyx", "csrc/fasttape_tape.c", "csrc/fasttape_alloc.c",
         "csrc/fasttape_math.c", "csrc/fasttape_nn.c"],
        include_dirs=["csrc", np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION")],
        extra_compile_args=C_ARGS,
    ),
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": DEBUG,
            "initializedcheck": DEBUG,
            "wraparound": False,
            "cdivision": True,
            "embedsignature": True,
        },
    ),
)

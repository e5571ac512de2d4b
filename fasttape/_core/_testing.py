"""The C tape in csrc/ exposed for its unit tests (tests/core/test_ctape.py).

The classes live in the core extension (fasttape/_core/_ctape_testing.pxi), so
the tests exercise the same C tape and per-thread tape stack as the core: a
second compiled copy of csrc/fasttape_tape.c would have a stack of its own.
"""

from fasttape._core.core import _FT_ENOMEM_CODE as FT_ENOMEM_CODE  # noqa: F401
from fasttape._core.core import _FT_ERANGE_CODE as FT_ERANGE_CODE  # noqa: F401
from fasttape._core.core import _FT_MAX_ARITY_VALUE as FT_MAX_ARITY_VALUE  # noqa: F401
from fasttape._core.core import _append_error as append_error  # noqa: F401
from fasttape._core.core import _CTape as CTape  # noqa: F401
from fasttape._core.core import _IdMap as IdMap  # noqa: F401
from fasttape._core.core import _tls_push_pop_roundtrip as tls_push_pop_roundtrip  # noqa: F401

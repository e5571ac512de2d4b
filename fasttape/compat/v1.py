"""`ft.compat.v1`: TensorFlow 1.x's names, for code written against `tf.compat.v1`.

Each name is the fasttape function or class TensorFlow 1 has it for; where
TensorFlow 1 had another name for a TensorFlow 2 function it is an alias
(`diag` is `ft.linalg.tensor_diag`, `matrix_diag` is `ft.linalg.diag`,
`matrix_inverse` is `ft.linalg.inv`, `set_random_seed` is `ft.random.set_seed`,
`tensor_scatter_update` is `ft.tensor_scatter_nd_update`, ...).

Graph building is here (`placeholder`, `Graph`, `get_default_graph`,
`reset_default_graph`, `name_scope`, `disable_eager_execution`), and so is
running them (`Session`, `InteractiveSession`, `get_default_session`,
`global_variables_initializer`, `variables_initializer`, `global_variables`,
`trainable_variables`).
"""

from fasttape import (  # noqa: F401
    GradientTape,
    Graph,
    Operation,
    Tensor,
    TensorShape,
    Variable,
    abs,
    acos,
    add,
    add_n,
    argmax,
    argmin,
    as_dtype,
    asin,
    atan,
    atan2,
    bool,
    boolean_mask,
    broadcast_to,
    cast,
    ceil,
    clip_by_global_norm,
    clip_by_norm,
    clip_by_value,
    complex64,
    complex128,
    concat,
    conj,
    constant,
    convert_to_tensor,
    cos,
    cosh,
    count_nonzero,
    custom_gradient,
    debugging,
    disable_eager_execution,
    divide,
    double,
    dtypes,
    einsum,
    enable_eager_execution,
    equal,
    erf,
    errors,
    executing_eagerly,
    exp,
    expand_dims,
    expm1,
    eye,
    fill,
    float16,
    float32,
    float64,
    floor,
    floordiv,
    gather,
    gather_nd,
    get_default_graph,
    gradients,
    greater,
    greater_equal,
    half,
    identity,
    int8,
    int16,
    int32,
    int64,
    less,
    less_equal,
    linalg,
    linspace,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    math,
    matmul,
    maximum,
    minimum,
    mod,
    multiply,
    name_scope,
    negative,
    nn,
    norm,
    not_equal,
    one_hot,
    ones,
    ones_like,
    pad,
    placeholder,
    pow,
    random,
    range,
    rank,
    reciprocal,
    reduce_all,
    reduce_any,
    reduce_logsumexp,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_prod,
    reduce_sum,
    reset_default_graph,
    reshape,
    round,
    rsqrt,
    scatter_nd,
    shape,
    sigmoid,
    sign,
    sin,
    sinh,
    size,
    slice,
    split,
    sqrt,
    square,
    squeeze,
    stack,
    stop_gradient,
    string,
    subtract,
    tan,
    tanh,
    tensor_scatter_nd_add,
    tensor_scatter_nd_update,
    tensordot,
    tile,
    transpose,
    truediv,
    uint8,
    uint16,
    uint32,
    uint64,
    unstack,
    where,
    zeros,
    zeros_like,
)
from fasttape.control_flow import cond_v1 as cond  # noqa: F401
from fasttape.control_flow import while_loop_v1 as while_loop  # noqa: F401
from fasttape.linalg import cholesky as cholesky  # noqa: F401
from fasttape.linalg import det as matrix_determinant  # noqa: F401
from fasttape.linalg import diag as matrix_diag  # noqa: F401
from fasttape.linalg import diag_part as matrix_diag_part  # noqa: F401
from fasttape.linalg import global_norm as global_norm  # noqa: F401
from fasttape.linalg import inv as matrix_inverse  # noqa: F401
from fasttape.linalg import matrix_transpose as matrix_transpose  # noqa: F401
from fasttape.linalg import solve as matrix_solve  # noqa: F401
from fasttape.linalg import tensor_diag as diag  # noqa: F401
from fasttape.linalg import trace as trace  # noqa: F401
from fasttape.math import is_finite as is_finite  # noqa: F401
from fasttape.math import is_nan as is_nan  # noqa: F401
from fasttape.math import segment_sum as segment_sum  # noqa: F401
from fasttape.math import unsorted_segment_sum as unsorted_segment_sum  # noqa: F401
from fasttape.ops.array_ops import linspace as lin_space  # noqa: F401
from fasttape.random import normal as random_normal  # noqa: F401
from fasttape.random import set_seed as set_random_seed  # noqa: F401
from fasttape.random import shuffle as random_shuffle  # noqa: F401
from fasttape.random import truncated_normal as truncated_normal  # noqa: F401
from fasttape.random import uniform as random_uniform  # noqa: F401
from fasttape.session import InteractiveSession as InteractiveSession  # noqa: F401
from fasttape.session import Session as Session  # noqa: F401
from fasttape.session import get_default_session as get_default_session  # noqa: F401
from fasttape.session import global_variables as global_variables  # noqa: F401
from fasttape.session import (  # noqa: F401
    global_variables_initializer as global_variables_initializer,
)
from fasttape.session import trainable_variables as trainable_variables  # noqa: F401
from fasttape.session import variables_initializer as variables_initializer  # noqa: F401
from fasttape.tensor_shape import dimension_value as dimension_value  # noqa: F401

floormod = mod
tensor_scatter_add = tensor_scatter_nd_add
where_v2 = where
tensor_scatter_update = tensor_scatter_nd_update

# variable sharing and the seed's bridges (fasttape/template.py,
# fasttape/script_ops.py); TensorFlow 1's graph tf.py_func passes NumPy arrays
from fasttape.script_ops import numpy_function as numpy_function  # noqa: E402, F401
from fasttape.script_ops import numpy_function as py_func  # noqa: E402, F401
from fasttape.script_ops import py_function as py_function  # noqa: E402, F401
from fasttape.template import (  # noqa: E402, F401
    AUTO_REUSE,
    EagerVariableStore,
    VariableScope,
    constant_initializer,
    get_variable,
    get_variable_scope,
    glorot_normal_initializer,
    glorot_uniform_initializer,
    make_template,
    ones_initializer,
    orthogonal_initializer,
    random_normal_initializer,
    random_uniform_initializer,
    truncated_normal_initializer,
    variable_scope,
    variance_scaling_initializer,
    zeros_initializer,
)

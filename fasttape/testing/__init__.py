"""fasttape.testing: the gradient checks and the op database that fasttape's
own tests use, shipped so that code built on fasttape can check its gradients too.
"""

from fasttape.testing._errors import assert_op_error as assert_op_error
from fasttape.testing._gradcheck import check_grads as check_grads
from fasttape.testing._gradcheck import check_jacobian as check_jacobian
from fasttape.testing._gradcheck import check_jacobians as check_jacobians

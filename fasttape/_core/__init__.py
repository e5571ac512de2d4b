"""fasttape's compiled core (Cython over the C tape in csrc/): see core.pyx."""

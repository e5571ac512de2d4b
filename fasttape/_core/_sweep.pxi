# The reverse sweep (_Sweep) and its shape helpers. Part of core.pyx.

# Note [Batched sweeps]
# ~~~~~~~~~~~~~~~~~~~~~
# A Jacobian is B vector-Jacobian products. Rather than B sweeps, the sweep
# runs once with cotangents that carry a leading axis of size B: the seed is
# the identity, every slot holds (B, *shape) arrays, and the results are the
# Jacobian's rows. VJPs of ops marked `batchable` are written so that a
# leading axis on g passes through (elementwise ops broadcast right-aligned;
# matmul's batch axes; reduce_sum/mean keep g's extra leading axes); for the
# others the sweep calls the VJP once per row and stacks the results, so
# every op works and the common ones are vectorised.


# Note [Broadcast gradients]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~
# Binary ops broadcast; their VJPs return gradients of the output's shape and
# the sweep (not every VJP) sums them back to each input's shape: over leading
# axes the input lacks and over axes where the input has size 1.
# The other direction is lazy: a VJP may return a gradient that merely
# *broadcasts to* its input's shape (reduce_mean returns g / n in the kept
# shape, not a full array). Elementwise families (unary, binary, nondiff)
# accept such gradients as they are, since broadcasting gives the same result;
# for other ops the sweep expands g to the output's shape (a view) before the
# VJP sees it, and results handed to the user are expanded to the source's
# shape. This saves a full pass over the data per reduction, which is what
# hand-written NumPy does with its scalars.


cdef inline bint _shape_is(object arr, int64_t *meta, int64_t mpos) noexcept:
    cdef int nd = <int>meta[mpos + 1], d
    cdef cnp.npy_intp *dims
    if cnp.PyArray_NDIM(<cnp.ndarray>arr) != nd:
        return False
    dims = cnp.PyArray_DIMS(<cnp.ndarray>arr)
    for d in range(nd):
        if dims[d] != meta[mpos + 2 + d]:
            return False
    return True


@cython.final
cdef class _Sweep:
    """State of one reverse sweep: dense gradient slots and the VJP calls."""
    cdef Tape tape
    cdef list grads
    cdef bytearray owned  # 1 where the slot's array was allocated by the sweep
    cdef bint higher      # VJPs get Tensors and are recorded (higher order)
    cdef bint release     # drop saved values as soon as their entry is done
    cdef list argbuf, gbuf, inbuf, outbuf
    cdef readonly tuple batch  # () or (B,): the leading axis of batched cotangents
    cdef int64_t *seg          # this entry's ids and shape records: See Note [Entry copies]
    cdef int64_t seg_cap

    def __cinit__(self, Tape tape, int64_t n_slots, bint higher, Py_ssize_t batch=0):
        self.tape = tape
        self.batch = (batch,) if batch > 0 else ()
        self.seg = NULL
        self.seg_cap = 0
        self.grads = [None] * n_slots
        self.owned = bytearray(n_slots)
        self.higher = higher
        self.release = not tape.persistent
        self.argbuf = [None] * MAX_ARGS
        self.gbuf = [None] * MAX_ARGS
        self.inbuf = [None] * MAX_ARGS
        self.outbuf = [None] * MAX_ARGS

    def __dealloc__(self):
        free(self.seg)

    cdef seed(self, int64_t s, Tensor target, object seed):
        if seed is None:
            # ones that broadcast to the target's shape: see Note [Broadcast gradients]
            g = _ones_seed(target._value)
            if self.higher:
                g = _wrap(g)
            self.accumulate(s, g)
            return
        if isinstance(seed, Tensor):
            g = (<Tensor>seed)._value if not self.higher else seed
        else:
            g = np.asarray(seed, dtype=target._value.dtype)
        shape = (<Tensor>g)._value.shape if isinstance(g, Tensor) else g.shape
        want = self.batch + target._value.shape
        if _broadcast_pair(shape, want) != want:
            raise ValueError(
                f"GradientTape.gradient: output_gradients of shape {shape} does not match "
                f"the target's shape {target._value.shape}")
        if self.higher and not isinstance(g, Tensor):
            g = _wrap(np.array(g))
        self.accumulate(s, g)

    cdef object full(self, object g, object shape):
        """g expanded to `shape` (a view) if it is a lazy broadcast gradient."""
        if g.shape == shape:
            return g
        if self.higher:
            return _call_special("broadcast_to", (_tensor_of(g), shape))
        return np.broadcast_to(g, shape)

    cdef int accumulate(self, int64_t s, object g) except -1:
        cur = self.grads[s]
        if cur is None:
            self.grads[s] = g
        elif self.higher:
            self.grads[s] = _binary(_OP_ADD, _tensor_of(cur), _tensor_of(g))
        elif self.owned[s] and _covers(cur, g):
            _np_add(cur, g, out=cur)
        else:
            self.grads[s] = _as_array(cur + g)  # 0-d + 0-d gives a NumPy scalar
            self.owned[s] = 1
        return 0

    cdef inline object arg_value(self, object v):
        """A saved value as a VJP sees it: raw on the fast path, Tensor when recording."""
        if not self.higher and isinstance(v, Tensor):
            return (<Tensor>v)._value
        return v

    cdef int entry(self, int64_t k, ft_slots_t *slots) except -1:
        cdef ft_entry_t *e = &self.tape.c.entries[k]
        cdef OpDef op = <OpDef>_OPS[e.op]
        cdef int n_in = e.n_in, n_out = e.n_out, i, j
        cdef int64_t *ids
        cdef int64_t *meta
        cdef int64_t saved = e.saved, pos, s, k2
        cdef int64_t seg_len, meta_off = e.meta - e.ids
        cdef int64_t mp_stack[2 * MAX_ARGS]
        cdef int64_t *mp = mp_stack
        cdef int64_t in_slot_stack[MAX_ARGS]
        cdef int64_t *in_slot = in_slot_stack
        cdef bint any_g = False, any_in = False
        cdef list gs = self.gbuf
        cdef list saved_in, saved_out = self.outbuf
        cdef object attrs = None
        if n_in + n_out > 2 * MAX_ARGS:
            mp = <int64_t*>malloc((n_in + n_out) * sizeof(int64_t))
        if n_in > MAX_ARGS:
            in_slot = <int64_t*>malloc(n_in * sizeof(int64_t))
        if mp == NULL or in_slot == NULL:
            if mp != mp_stack:
                free(mp)
            if in_slot != in_slot_stack:
                free(in_slot)
            raise MemoryError()
        saved_in = self.inbuf if n_in <= MAX_ARGS else [None] * n_in
        if op.variadic:
            saved_in = [None] * n_in
        # Note [Entry copies]: a VJP may record on this very tape (gradient()
        # inside its own context) or on a tape another thread shares, which
        # can reallocate the pool; work on a copy of this entry's ids and shapes.
        meta = self.tape.c.pool + e.meta
        pos = 0
        for i in range(n_in + n_out):
            pos += 2 + meta[pos + 1]
        seg_len = meta_off + pos
        if seg_len > self.seg_cap:
            free(self.seg)
            self.seg = <int64_t*>malloc(seg_len * sizeof(int64_t))
            self.seg_cap = seg_len if self.seg != NULL else 0
            if self.seg == NULL:
                if mp != mp_stack:
                    free(mp)
                if in_slot != in_slot_stack:
                    free(in_slot)
                raise MemoryError()
        memcpy(self.seg, self.tape.c.pool + e.ids, seg_len * sizeof(int64_t))
        ids = self.seg
        meta = self.seg + meta_off
        try:
            # where each input's and output's shape record starts
            pos = 0
            for i in range(n_in + n_out):
                mp[i] = pos
                pos += 2 + meta[pos + 1]
            # the output gradients
            for j in range(n_out):
                s = ft_slots_get(slots, ids[n_in + j])
                g = self.grads[s] if s >= 0 else None
                if g is not None:
                    any_g = True
                    if self.higher:
                        g = _tensor_of(g)
                    if self.batch:
                        g = self.full(g, self.batch + _meta_shape(meta, mp[n_in + j]))
                    elif not op.lazy_grads:
                        if not _shape_is(g if not self.higher else (<Tensor>g)._value,
                                         meta, mp[n_in + j]):
                            g = self.full(g, _meta_shape(meta, mp[n_in + j]))
                gs[j] = g
            for i in range(n_in):
                in_slot[i] = ft_slots_get(slots, ids[i])
                if in_slot[i] >= 0:
                    any_in = True
            # the saved values, in Tape._append's order
            pos = saved
            if op.save_any:
                for i in range(n_in):
                    if op.save_all_in or (i < MAX_ARGS and op.save_in[i]):
                        saved_in[i] = self.arg_value(self.tape._saved[pos])
                        pos += 1
                for j in range(n_out):
                    if op.save_out[j]:
                        saved_out[j] = self.arg_value(self.tape._saved[pos])
                        pos += 1
                if op.save_attrs:
                    attrs = self.tape._saved[pos]
                    pos += 1
            if any_g and any_in and self.batch and not op.batchable:
                self.rows(op, gs, saved_in, saved_out, attrs, meta, mp, n_in, n_out, in_slot)
            elif any_g and any_in:
                if op.joint:
                    res = self.call(op.vjp_fns[0], op.vjp_plans[0], op, gs, saved_in,
                                    saved_out, attrs, meta, mp, n_in)
                    if not isinstance(res, (tuple, list)) or len(res) != n_in:
                        raise TypeError(
                            f"op {op.name}: the joint VJP must return one gradient per input "
                            f"({n_in}), got {type(res).__name__}")
                    for i in range(n_in):
                        if in_slot[i] >= 0 and res[i] is not None:
                            self.accumulate(in_slot[i], self.fit(res[i], meta, mp[i], mp[n_in], op, i))
                else:
                    for i in range(n_in):
                        if in_slot[i] < 0:
                            continue
                        fn = op.vjp_fns[i]
                        if fn is None:
                            continue
                        if fn is _IDENTITY:
                            gi = gs[0]
                        else:
                            gi = self.call(fn, op.vjp_plans[i], op, gs, saved_in, saved_out,
                                           attrs, meta, mp, n_in)
                        if gi is not None:
                            self.accumulate(in_slot[i], self.fit(gi, meta, mp[i], mp[n_in], op, i))
        finally:
            for j in range(min(n_out, MAX_ARGS)):
                gs[j] = None
                saved_out[j] = None
            if saved_in is self.inbuf:
                for i in range(n_in):
                    saved_in[i] = None
            if mp != mp_stack:
                free(mp)
            if in_slot != in_slot_stack:
                free(in_slot)
        if self.release and saved >= 0:
            for k2 in range(saved, pos):
                self.tape._saved[k2] = None
        return 0

    cdef object call(self, object fn, bytes plan, OpDef op, list gs, list saved_in,
                     list saved_out, object attrs, int64_t *meta, int64_t *mp, int n_in):
        cdef const unsigned char *p = plan
        cdef Py_ssize_t n = len(plan) // 2, a
        cdef int kind, idx
        cdef list buf = self.argbuf
        if n > 0 and buf[0] is not None:  # re-entered from inside a VJP
            buf = [None] * MAX_ARGS
        for a in range(n):
            kind = p[2 * a]
            idx = p[2 * a + 1]
            if kind == K_G:
                v = gs[idx]
            elif kind == K_IN:
                v = saved_in if op.variadic else saved_in[idx]
            elif kind == K_OUT:
                v = saved_out[idx]
            elif kind == K_SHAPE:
                if op.variadic:
                    v = [_meta_shape(meta, mp[i]) for i in range(n_in)]
                else:
                    v = _meta_shape(meta, mp[idx])
            elif kind == K_DTYPE:
                v = cnp.PyArray_DescrFromType(<int>meta[mp[idx]]) if meta[mp[idx]] >= 0 else None
            else:
                v = attrs[idx]
            buf[a] = v
        try:
            return PyObject_Vectorcall(fn, (<PyListObject*>buf).ob_item, n, NULL)
        finally:
            for a in range(n):
                buf[a] = None

    cdef int rows(self, OpDef op, list gs, list saved_in, list saved_out, object attrs,
                  int64_t *meta, int64_t *mp, int n_in, int n_out, int64_t *in_slot) except -1:
        """A batched sweep through an op whose VJPs are not batchable: one VJP
        call per cotangent row, results stacked. See Note [Batched sweeps]."""
        cdef Py_ssize_t b, nb = self.batch[0]
        cdef int i, j
        cdef tuple batch = self.batch
        cdef list per_input = [[] for i in range(n_in)]
        cdef list row_gs
        self.batch = ()
        try:
            for b in range(nb):
                row_gs = [gs[j][b] if gs[j] is not None else None for j in range(n_out)]
                row_gs += [None] * (MAX_ARGS - len(row_gs))
                if op.joint:
                    res = self.call(op.vjp_fns[0], op.vjp_plans[0], op, row_gs, saved_in,
                                    saved_out, attrs, meta, mp, n_in)
                    res = list(res)
                else:
                    res = []
                    for i in range(n_in):
                        fn = op.vjp_fns[i]
                        if in_slot[i] < 0 or fn is None:
                            res.append(None)
                        elif fn is _IDENTITY:
                            res.append(row_gs[0])
                        else:
                            res.append(self.call(fn, op.vjp_plans[i], op, row_gs, saved_in,
                                                 saved_out, attrs, meta, mp, n_in))
                for i in range(n_in):
                    if in_slot[i] >= 0 and res[i] is not None:
                        per_input[i].append(
                            self.full(self.fit(res[i], meta, mp[i], mp[n_in], op, i),
                                      _meta_shape(meta, mp[i])))
                    else:
                        per_input[i].append(None)
        finally:
            self.batch = batch
        for i in range(n_in):
            rows = per_input[i]
            if in_slot[i] < 0 or all(r is None for r in rows):
                continue
            shape = _meta_shape(meta, mp[i])
            if self.higher:
                stacked = _call_special("stack", ([
                    r if r is not None else _wrap(np.zeros(shape, cnp.PyArray_DescrFromType(
                        <int>meta[mp[i]]))) for r in rows],))
            else:
                stacked = np.stack([r if r is not None else np.zeros(
                    shape, cnp.PyArray_DescrFromType(<int>meta[mp[i]])) for r in rows])
            self.accumulate(in_slot[i], stacked)
        return 0

    cdef object fit(self, object g, int64_t *meta, int64_t mpos, int64_t mpos_out, OpDef op,
                    int i):
        """Sums a VJP's result back to its input's shape and casts it to the
        input's dtype. See Note [Broadcast gradients].

        mpos/mpos_out locate the shape records of the input and of output 0:
        the result of an elementwise op's VJP stands for an array of the
        output's shape, any other VJP's result for one of the input's shape
        (or larger, with leading batch axes, as matmul's)."""
        cdef int type_num = <int>meta[mpos]
        if self.higher:
            g = _tensor_of(g)
            arr = (<Tensor>g)._value
        else:
            if not cnp.PyArray_Check(g):
                g = cnp.PyArray_FROM_O(g)
            arr = g
        if self.batch:
            # See Note [Batch axis in fit]
            ref = _meta_shape(meta, mpos_out if op.elementwise else mpos)
            g = self._reduce_to(g, arr.shape, _meta_shape(meta, mpos), ref, op, i,
                                1 if cnp.PyArray_NDIM(<cnp.ndarray>arr) > len(ref) else 0)
            arr = (<Tensor>g)._value if self.higher else g
        elif not (_shape_is(arr, meta, mpos)
                  and (not op.elementwise or _shape_is(arr, meta, mpos_out))):
            lead = _leading_extra(arr, meta, mpos)
            if lead > 0 and not self.higher and (not op.elementwise
                                                 or _shape_is(arr, meta, mpos_out)):
                # the common broadcast (a bias): g has the input's shape after
                # `lead` extra leading axes, so the sum is over those alone
                g = _sum_leading(g, tuple(range(lead)), _meta_shape(meta, mpos))
            else:
                g = self._reduce_to(g, arr.shape, _meta_shape(meta, mpos),
                                    _meta_shape(meta, mpos_out if op.elementwise else mpos),
                                    op, i)
            arr = (<Tensor>g)._value if self.higher else g
        if type_num >= 0 and cnp.PyArray_TYPE(<cnp.ndarray>arr) != type_num:
            dt = cnp.PyArray_DescrFromType(type_num)
            if self.higher:
                g = _call_special("cast", (g, dt))
            else:
                g = g.astype(dt)
        return g

    cdef object _reduce_to(self, object g, tuple g_shape, tuple in_shape, tuple ref_shape,
                           OpDef op, int i, int nb=0):
        """g (of g_shape: nb batch axes, then a row standing for an array of
        broadcast(row, ref_shape)) summed over the axes that broadcasting added
        to in_shape; g stays lazy (smaller) where it already broadcasts to
        in_shape. The batch axes are kept as they are."""
        cdef Py_ssize_t d
        bshape = g_shape[:nb]
        row = g_shape[nb:]
        full = _broadcast_pair(row, ref_shape)
        if full is None or _broadcast_pair(full, in_shape) is None:
            raise ValueError(
                f"op {op.name}: the VJP for input {i} returned a gradient of shape {row}, "
                f"which does not match the input's shape {in_shape}")
        lead = len(full) - len(in_shape)
        row_axes = [d for d in range(len(full))
                    if d < lead or (in_shape[d - lead] == 1 and full[d] != 1)]
        if not row_axes:
            return g
        axes = tuple([nb + d for d in row_axes])
        kept = bshape + tuple([1 if d in row_axes else full[d] for d in range(lead, len(full))])
        if row != full:
            # a lazy gradient over a broadcast axis: each element counts n times
            g = self.full(g, bshape + full)
        if self.higher:
            return _call_special("reshape", (_call_special("reduce_sum", (g, axes)), kept))
        return _sum_leading(g, axes, kept)


# Note [Batch axis in fit]
# ~~~~~~~~~~~~~~~~~~~~~~~~
# In a batched sweep a VJP's result carries the batch axis first (its
# cotangent did), followed by a row that broadcasts like an unbatched result.
# Broadcasting is right-aligned, so the row's extra leading axes (an input
# broadcast against a larger one, matmul's batch axes) sit *after* the batch
# axis: the sum back to the input's shape runs over the row's axes only, never
# over the batch axis (summing it mixed the Jacobian's rows: a Jacobian of a
# Jacobian came out as [[2, 2], [2, 2]] for [[2, 0], [0, 2]]). A result with
# no more axes than the row it stands for (a VJP that returns zeros of its
# input's shape without looking at g) has no batch axis and broadcasts over it.


cdef object _np_add_reduce = np.add.reduce


cdef inline int _leading_extra(object arr, int64_t *meta, int64_t mpos) noexcept:
    """k > 0 when arr's shape is k extra axes followed by the recorded shape, else 0."""
    cdef int nd = <int>meta[mpos + 1], gnd = cnp.PyArray_NDIM(<cnp.ndarray>arr), d
    cdef cnp.npy_intp *dims = cnp.PyArray_DIMS(<cnp.ndarray>arr)
    if gnd <= nd:
        return 0
    for d in range(nd):
        if dims[gnd - nd + d] != meta[mpos + 2 + d]:
            return 0
    return gnd - nd


cdef object _sum_leading(object g, tuple axes, tuple kept):
    """np.add.reduce(g, axes) reshaped to `kept`. When the summed axes are the
    leading ones of a contiguous float array with many rows (a bias gradient:
    (batch, h, w, c) -> (c,)), a ones-vector matrix product is 3-13x faster:
    NumPy sums such axes row by row, BLAS in blocks."""
    cdef Py_ssize_t n = len(axes), rows = 1, d
    cdef bint leading = True
    for d in range(n):
        if axes[d] != d:
            leading = False
            break
    if (leading and cnp.PyArray_Check(g) and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>g)
            and (cnp.PyArray_TYPE(<cnp.ndarray>g) == cnp.NPY_FLOAT32
                 or cnp.PyArray_TYPE(<cnp.ndarray>g) == cnp.NPY_FLOAT64)):
        for d in range(n):
            rows *= cnp.PyArray_DIMS(<cnp.ndarray>g)[d]
        if rows >= 64:
            return (np.ones(rows, g.dtype) @ g.reshape(rows, -1)).reshape(kept)
    return _as_array(_np_add_reduce(g, axes)).reshape(kept)
cdef object _np_add = np.add


cdef inline bint _covers(object a, object b) noexcept:
    """True when ndarray b broadcasts to a's shape (so a += b keeps a's shape)."""
    cdef int na = cnp.PyArray_NDIM(<cnp.ndarray>a), nb = cnp.PyArray_NDIM(<cnp.ndarray>b), d
    cdef cnp.npy_intp *da = cnp.PyArray_DIMS(<cnp.ndarray>a)
    cdef cnp.npy_intp *db = cnp.PyArray_DIMS(<cnp.ndarray>b)
    if nb > na:
        return False
    for d in range(nb):
        if db[d] != 1 and db[d] != da[na - nb + d]:
            return False
    return True
cdef dict _ONES = {}


cdef object _ones_seed(object value):
    """A shared read-only array of ones with value's rank and dtype, all dims 1.
    Never written to: the sweep only adds in place into arrays it allocated."""
    key = (cnp.PyArray_NDIM(<cnp.ndarray>value), cnp.PyArray_TYPE(<cnp.ndarray>value))
    g = _ONES.get(key)
    if g is None:
        g = np.ones((1,) * key[0], value.dtype)
        g.flags.writeable = False
        _ONES[key] = g
    return g


cdef object _broadcast_pair(tuple a, tuple b):
    """NumPy's broadcast of two shapes, or None when they do not broadcast."""
    cdef Py_ssize_t na = len(a), nb = len(b), n = max(na, nb), d
    cdef list out = [None] * n
    for d in range(n):
        x = a[na - n + d] if d >= n - na else 1
        y = b[nb - n + d] if d >= n - nb else 1
        if x == y or y == 1:
            out[d] = x
        elif x == 1:
            out[d] = y
        else:
            return None
    return tuple(out)


cdef inline object _meta_shape(int64_t *meta, int64_t mpos):
    cdef int nd = <int>meta[mpos + 1], d
    return tuple([meta[mpos + 2 + d] for d in range(nd)])


cdef inline object _tensor_of(object v):
    if isinstance(v, Tensor):
        return v
    return _wrap(_as_array(v))

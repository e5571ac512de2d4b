"""ft.summary: every summary kind read back by TensorBoard's own
EventAccumulator (values, histogram buckets, image pixels, text); steps,
record_if, defaults, flush/close/exit; the TensorBoard callback."""

import io
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import fasttape as ft

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing import event_accumulator as ea  # noqa: E402


def _accumulator(logdir):
    acc = ea.EventAccumulator(str(logdir), size_guidance={
        ea.SCALARS: 0, ea.HISTOGRAMS: 0, ea.IMAGES: 0, ea.TENSORS: 0})
    acc.Reload()
    return acc


def _decode_png(data):
    from PIL import Image

    return np.array(Image.open(io.BytesIO(data)))


RNG = np.random.default_rng(0)
HIST = RNG.normal(size=500)
IMAGES_F = RNG.uniform(size=(2, 5, 7, 3))
IMAGE_U8 = RNG.integers(0, 256, size=(1, 4, 6, 4), dtype=np.uint8)
GRAY = RNG.uniform(size=(1, 3, 3, 1)).astype(np.float32)


def _check_scalar(acc, step):
    events = acc.Scalars("loss")
    assert [(e.step, e.value) for e in events] == [(step, pytest.approx(0.125))]


def _check_histogram(acc, step):
    (event,) = acc.Histograms("weights")
    h = event.histogram_value
    counts, edges = np.histogram(HIST, bins=12, range=(HIST.min(), HIST.max()))
    assert event.step == step
    assert (h.min, h.max, h.num) == (pytest.approx(HIST.min()), pytest.approx(HIST.max()), 500)
    assert h.sum == pytest.approx(HIST.sum()) and h.sum_squares == pytest.approx(HIST @ HIST)
    np.testing.assert_allclose(h.bucket_limit, edges[1:])
    np.testing.assert_array_equal(h.bucket, counts)


def _check_images(acc, step):
    expected = np.clip(np.rint(IMAGES_F * 255), 0, 255).astype(np.uint8)
    for i in range(2):
        (event,) = acc.Images(f"pictures/image/{i}")
        assert (event.step, event.height, event.width) == (step, 5, 7)
        np.testing.assert_array_equal(_decode_png(event.encoded_image_string), expected[i])
    (event,) = acc.Images("rgba")
    np.testing.assert_array_equal(_decode_png(event.encoded_image_string), IMAGE_U8[0])
    (event,) = acc.Images("gray")
    np.testing.assert_array_equal(_decode_png(event.encoded_image_string),
                                  np.rint(GRAY[0, :, :, 0] * 255).astype(np.uint8))


def _check_text(acc, step):
    (event,) = acc.Tensors("notes")
    assert event.step == step
    assert [s.decode() for s in event.tensor_proto.string_val] == ["héllo", "wörld"]
    assert acc.SummaryMetadata("notes").plugin_data.plugin_name == "text"


# (name, write(step), check(accumulator, step))
KINDS = [
    ("scalar", lambda s: ft.summary.scalar("loss", ft.constant(0.125), step=s), _check_scalar),
    ("histogram", lambda s: ft.summary.histogram("weights", ft.constant(HIST), step=s,
                                                 buckets=12), _check_histogram),
    ("image", lambda s: [ft.summary.image("pictures", IMAGES_F, step=s),
                         ft.summary.image("rgba", IMAGE_U8, step=s),
                         ft.summary.image("gray", ft.constant(GRAY), step=s)],
     _check_images),
    ("text", lambda s: ft.summary.text("notes", np.array(["héllo", "wörld"]), step=s),
     _check_text),
]


def _results(r):
    """The distinct results (Python bools) of one or several summary calls."""
    return sorted({v for v in (r if isinstance(r, list) else [r])})


@pytest.mark.parametrize("name,write,check", KINDS, ids=[k[0] for k in KINDS])
def test_every_summary_is_read_back_by_tensorboard(name, write, check, tmp_path):
    writer = ft.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        assert _results(write(7)) == [True]
    writer.close()
    check(_accumulator(tmp_path), 7)


@pytest.mark.parametrize("name,write,check", KINDS, ids=[k[0] for k in KINDS])
def test_without_a_default_writer_nothing_is_recorded(name, write, check, tmp_path):
    assert _results(write(1)) == [False]
    writer = ft.summary.create_file_writer(str(tmp_path))
    with writer.as_default(), ft.summary.record_if(False):
        assert _results(write(1)) == [False]
    writer.close()
    assert not any(_accumulator(tmp_path).Tags()[k] for k in ("scalars", "histograms",
                                                                "images", "tensors"))


@pytest.mark.parametrize("name,write,check", KINDS, ids=[k[0] for k in KINDS])
def test_inside_ft_function_every_call_writes(name, write, check, tmp_path):
    """A summary in a traced function is a stateful node: it writes at each
    call (not once at the trace), with the step of that call."""
    step = ft.Variable(np.int64(7))

    @ft.function
    def f(x):
        write(step)
        return x + 1.0

    x = ft.constant(1.0)
    f(x)  # no default writer: traced, nothing written
    for sub in ("a", "b"):
        writer = ft.summary.create_file_writer(str(tmp_path / sub))
        with writer.as_default():
            f(x)
        writer.close()
        check(_accumulator(tmp_path / sub), 7)


def test_inside_ft_function_values_and_steps_are_those_of_each_call(tmp_path):
    step = ft.Variable(np.int64(0))

    @ft.function
    def train(x):
        loss = ft.reduce_sum(x * x)
        written = ft.summary.scalar("loss", loss, step=step)
        ft.summary.histogram("x", x, step=step, buckets=3)
        step.assign_add(np.int64(1))
        return written

    writer = ft.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        results = [bool(train(ft.constant([1.0, float(i)]))) for i in range(4)]
        with ft.summary.record_if(False):
            assert not bool(train(ft.constant([9.0, 9.0])))
    writer.close()
    assert results == [True] * 4
    acc = _accumulator(tmp_path)
    assert [(e.step, e.value) for e in acc.Scalars("loss")] == [
        (i, 1.0 + i * i) for i in range(4)]
    assert [e.histogram_value.max for e in acc.Histograms("x")] == [1.0, 1.0, 2.0, 3.0]


def test_steps_from_argument_writer_global_and_variables(tmp_path):
    writer = ft.summary.create_file_writer(str(tmp_path))
    step = ft.Variable(np.int64(10))
    with writer.as_default(step=step):
        ft.summary.scalar("a", 1.0)
        step.assign_add(np.int64(5))
        ft.summary.scalar("a", 2.0)  # the variable is read at each write
        ft.summary.scalar("a", 3.0, step=100)
    ft.summary.experimental.set_step(42)
    try:
        with writer.as_default():
            ft.summary.scalar("b", 4.0)
    finally:
        ft.summary.experimental.set_step(None)
    with writer.as_default(), pytest.raises(ValueError, match="no step for 'c'"):
        ft.summary.scalar("c", 1.0)
    writer.close()
    acc = _accumulator(tmp_path)
    assert [(e.step, e.value) for e in acc.Scalars("a")] == [(10, 1.0), (15, 2.0), (100, 3.0)]
    assert [e.step for e in acc.Scalars("b")] == [42]


def test_record_if_with_a_callable_and_nesting(tmp_path):
    writer = ft.summary.create_file_writer(str(tmp_path))
    step = [0]
    with writer.as_default(), ft.summary.record_if(lambda: step[0] % 3 == 0):
        for step[0] in range(7):
            assert ft.summary.scalar("s", float(step[0]), step=step[0]) is (step[0] % 3 == 0)
        with ft.summary.record_if(False):
            assert not ft.summary.should_record_summaries()
    writer.close()
    assert [e.step for e in _accumulator(tmp_path).Scalars("s")] == [0, 3, 6]


def test_default_writers_are_per_thread_and_nest(tmp_path):
    a = ft.summary.create_file_writer(str(tmp_path / "a"))
    b = ft.summary.create_file_writer(str(tmp_path / "b"))
    seen = []
    with a.as_default(step=1):
        with b.as_default(step=2):
            ft.summary.scalar("x", 1.0)
        ft.summary.scalar("x", 2.0)
        t = threading.Thread(target=lambda: seen.append(ft.summary.scalar("x", 3.0, step=0)))
        t.start()
        t.join()
    assert seen == [False]  # the other thread has no default writer
    a.close()
    b.close()
    assert [(e.step, e.value) for e in _accumulator(tmp_path / "a").Scalars("x")] == [(1, 2.0)]
    assert [(e.step, e.value) for e in _accumulator(tmp_path / "b").Scalars("x")] == [(2, 1.0)]


def test_flush_close_and_reopen(tmp_path):
    writer = ft.summary.create_file_writer(str(tmp_path), max_queue=1000, flush_millis=10**7)
    writer.set_as_default(step=0)
    try:
        ft.summary.scalar("q", 1.0)
        writer.flush()
        assert [e.value for e in _accumulator(tmp_path).Scalars("q")] == [1.0]
        writer.close()
        with pytest.raises(RuntimeError, match="closed"):
            ft.summary.scalar("q", 2.0)
        writer.init()
        ft.summary.scalar("q", 3.0)
        writer.close()
    finally:
        from fasttape.summary import writer as w
        w._GLOBAL["default"] = None
    assert sorted(e.value for e in _accumulator(tmp_path).Scalars("q")) == [1.0, 3.0]


def test_pending_events_are_written_at_exit(tmp_path):
    code = ("import fasttape as ft, sys\n"
            "w = ft.summary.create_file_writer(sys.argv[1], max_queue=1000, "
            "flush_millis=10**7)\n"
            "with w.as_default(step=5):\n"
            "    ft.summary.scalar('exit', 9.0)\n"
            "w2 = ft.summary.create_file_writer(sys.argv[1] + '/kept', max_queue=1000, "
            "flush_millis=10**7)\n"
            "w2.set_as_default(step=6)\n"
            "ft.summary.scalar('exit', 8.0)\n")  # never flushed nor closed
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, env=env,
                   timeout=120)
    assert [(e.step, e.value) for e in _accumulator(tmp_path).Scalars("exit")] == [(5, 9.0)]
    assert [(e.step, e.value) for e in _accumulator(tmp_path / "kept").Scalars("exit")] == [
        (6, 8.0)]


def test_bad_data_raises_naming_the_tag(tmp_path):
    writer = ft.summary.create_file_writer(str(tmp_path))
    with writer.as_default(step=0):
        with pytest.raises(ValueError, match="'s'.*scalar"):
            ft.summary.scalar("s", [1.0, 2.0])
        with pytest.raises(ValueError, match="'img'"):
            ft.summary.image("img", np.zeros((4, 4)))
        with pytest.raises(ValueError, match="NaN.*'h'"):
            ft.summary.histogram("h", [1.0, np.nan])
        with pytest.raises(TypeError, match="'t'"):
            ft.summary.text("t", 3.0)
    writer.close()


def test_tensorboard_callback_writes_epochs_batches_and_histograms(tmp_path):
    ft.random.set_seed(0)
    model = ft.Sequential([ft.layers.Dense(3, activation="relu"), ft.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mse"])
    x = np.linspace(-1, 1, 48, dtype=np.float32).reshape(12, 4)
    y = x.sum(axis=1, keepdims=True)
    cb = ft.callbacks.TensorBoard(str(tmp_path), histogram_freq=1, update_freq=2)
    history = model.fit(x, y, epochs=3, batch_size=4, verbose=0, validation_data=(x, y),
                        callbacks=[cb])
    train = _accumulator(tmp_path / "train")
    val = _accumulator(tmp_path / "validation")
    np.testing.assert_allclose([e.value for e in train.Scalars("epoch_loss")],
                               history.history["loss"], rtol=1e-6)
    np.testing.assert_allclose([e.value for e in val.Scalars("epoch_loss")],
                               history.history["val_loss"], rtol=1e-6)
    assert [e.step for e in train.Scalars("epoch_loss")] == [0, 1, 2]
    assert [e.step for e in train.Scalars("batch_loss")] == [2, 4, 6, 8]
    kernel = model.layers[0].kernel
    (last,) = [e for e in train.Histograms(kernel.name.replace(":", "_")) if e.step == 2]
    assert last.histogram_value.num == kernel.numpy().size
    assert last.histogram_value.sum == pytest.approx(float(kernel.numpy().sum()), rel=1e-5)

"""`ft.summary`: TensorBoard summaries (TensorFlow 2's tf.summary); needs the
`tensorboard` package (`pip install 'fasttape[tensorboard]'`). See Note
[Summary writers] in fasttape/summary/writer.py."""

from fasttape.summary.writer import SummaryWriter as SummaryWriter
from fasttape.summary.writer import create_file_writer as create_file_writer
from fasttape.summary.writer import create_noop_writer as create_noop_writer
from fasttape.summary.writer import experimental as experimental
from fasttape.summary.writer import histogram as histogram
from fasttape.summary.writer import image as image
from fasttape.summary.writer import record_if as record_if
from fasttape.summary.writer import scalar as scalar
from fasttape.summary.writer import should_record_summaries as should_record_summaries
from fasttape.summary.writer import text as text

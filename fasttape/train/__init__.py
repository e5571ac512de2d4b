"""`ft.train`: object-based checkpoints (`Checkpoint`, `CheckpointManager`,
`latest_checkpoint`). See docs/design.md, "Checkpoints and summaries"."""

from fasttape.train.checkpoint import Checkpoint as Checkpoint
from fasttape.train.checkpoint import CheckpointLoadStatus as CheckpointLoadStatus
from fasttape.train.checkpoint import CheckpointOptions as CheckpointOptions
from fasttape.train.manager import CheckpointManager as CheckpointManager
from fasttape.train.manager import latest_checkpoint as latest_checkpoint

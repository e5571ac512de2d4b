"""`ft.layers` (also `ft.keras.layers`): Keras's layers, eager.

`Layer` builds its weights on the first call from the input's shape; the
layers take Keras's argument names and defaults (channels_last only). See
docs/design.md, "Modules and layers".
"""

from fasttape.layers.base import InputSpec as InputSpec
from fasttape.layers.base import Layer as Layer
from fasttape.layers.convolutional import (  # noqa: F401
    AveragePool2D,
    AveragePooling2D,
    AvgPool2D,
    Conv1D,
    Conv2D,
    Conv2DTranspose,
    Convolution1D,
    Convolution2D,
    Convolution2DTranspose,
    GlobalAveragePooling2D,
    GlobalAvgPool2D,
    MaxPool2D,
    MaxPooling2D,
)
from fasttape.layers.core import (  # noqa: F401
    Activation,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Reshape,
)
from fasttape.layers.input_layer import Input as Input
from fasttape.layers.input_layer import InputLayer as InputLayer
from fasttape.layers.normalization import (  # noqa: F401
    BatchNormalization,
    LayerNormalization,
)
from fasttape.layers.recurrent import (  # noqa: F401
    GRU,
    LSTM,
    RNN,
    GRUCell,
    LSTMCell,
    SimpleRNN,
    SimpleRNNCell,
)

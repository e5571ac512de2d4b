"""`ft.keras`: Keras's paths (`tf.keras.optimizers` -> `ft.keras.optimizers`)."""

# optimizers, losses and metrics
from fasttape import losses as losses
from fasttape import metrics as metrics
from fasttape import optimizers as optimizers

"""`ft.contrib`: TensorFlow 1's contrib names that the seed's eager guides use
(`from fasttape.contrib import eager as tfe`)."""

from fasttape.contrib import eager as eager

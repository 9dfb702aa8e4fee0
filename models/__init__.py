"""rarewatch's ML core: windows, scaling, the LSTM autoencoder, thresholds, artifacts, scoring.

Never imports FastAPI. The pure-numpy modules (windows, scaling, thresholds, metrics, scoring)
import no TensorFlow either, so the serving path can run without it.
"""

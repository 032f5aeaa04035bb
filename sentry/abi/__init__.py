"""Linux ABI: constants, structure layouts and the typed Linux errors handlers raise."""

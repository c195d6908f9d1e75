"""Export: SavedModel with its signatures, warm-up, validation gate, TFLite and parity."""

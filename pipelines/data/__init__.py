"""Data: what a source returns, the sources, the split and the tf.data pipelines."""

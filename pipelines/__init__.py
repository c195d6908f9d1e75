"""Training pipeline: config, data, training, tracking and the command line.

Kept free of imports so that `kerasforge serve` loads no training code.
"""

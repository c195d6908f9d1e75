"""Serving: SavedModel export, TFLite, the embedded TF Serving-compatible
server, clients and the edge runtime.

Kept free of imports: `serving.edge` must load without TensorFlow, and the
server and clients run from an exported model alone.
"""

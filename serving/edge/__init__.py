"""Edge runtime: TFLite inference with numpy and the LiteRT interpreter only.

Never imports TensorFlow, so it runs where only ``pip install kerasforge[edge]``
(or ``ai-edge-litert`` / ``tflite-runtime``) is available.
"""

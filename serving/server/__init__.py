"""The embedded server: REST and gRPC, the model store, batching, request decoding, metrics."""

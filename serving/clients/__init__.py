"""Clients of TF Serving and the embedded server: REST and gRPC, request inputs from files."""

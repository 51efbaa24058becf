"""Generated gRPC stubs for the codecascade.v1 API (see protos/)."""

"""Generated gRPC stubs for KEDA's External Scaler contract (proto package
externalscaler; see protos/codecascade/keda/)."""

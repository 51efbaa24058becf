"""The shared kernel: what the services agree on without calling each other.

The task (`task`), tokens and dollars (`usage`, one cost formula), the code in a model's answer
(`code`), the accept-or-escalate rule (`decision`), one tier specification (`tiers`), the
sampling parameters client and server agree on (`sampling`) and the
error kinds every service raises (`errors`). Nothing here imports gRPC, protobuf or a service
package; services meet here and on the wire, never in each other's modules (import-linter
contracts in pyproject.toml enforce it).
"""

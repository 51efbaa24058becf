"""A cold tier over real gRPC: the stream says TierWaking (wait); the answer names the cold tier
(answer_best). The tier doubles are the unit tests' Ports (L refuses its first calls)."""

from __future__ import annotations

from codecascade.mesh.channels import open_channel
from codecascade.mesh.server import running_server
from codecascade.mesh.settings import ServiceSettings
from codecascade.router.cascade import Cascade
from codecascade.router.policy import CascadePolicy, TierPolicy
from codecascade.v1 import cascade_service_pb2 as pb
from codecascade.v1 import cascade_service_pb2_grpc as pb_grpc
from tests.contract.router.test_servicer import _Service
from tests.unit.router.test_when_cold import Ports


def _cascade(when_cold: str, ports: Ports) -> Cascade:
    policy = CascadePolicy(
        tiers=(
            TierPolicy(tier="S", k=2, test_lines=1, threshold=0.9),
            TierPolicy(tier="L", k=2, test_lines=1, threshold=0.9, when_cold=when_cold),
        )
    )
    return Cascade(policy, ports, ports, ports)


REQUEST = pb.GenerateRequest(task=pb.Task(prompt="def f(x):\n    '''Identity.'''\n"), seed=1)


async def test_wait_streams_tier_waking_then_the_woken_tier_answers() -> None:
    async with running_server(
        ServiceSettings(grpc_port=0), _Service(_cascade("wait", Ports(cold_calls=1)))
    ) as server:
        async with open_channel(server.address) as channel:
            stub = pb_grpc.CascadeServiceStub(channel)
            kinds, waking, completed = [], None, None
            async for message in stub.GenerateStream(
                pb.GenerateStreamRequest(request=REQUEST), timeout=30
            ):
                kinds.append(message.WhichOneof("event"))
                if message.HasField("tier_waking"):
                    waking = message.tier_waking
                if message.HasField("completed"):
                    completed = message.completed
    assert waking is not None and waking.tier == "L"
    assert "no ready replica" in waking.reason and waking.budget.seconds > 0
    assert kinds.index("tier_waking") < kinds.index("completed")
    assert completed is not None and completed.tier == "L" and completed.cold_tier == ""


async def test_answer_best_answers_at_once_and_names_the_cold_tier() -> None:
    async with running_server(
        ServiceSettings(grpc_port=0), _Service(_cascade("answer_best", Ports(cold_calls=100)))
    ) as server:
        async with open_channel(server.address) as channel:
            response = await pb_grpc.CascadeServiceStub(channel).Generate(REQUEST, timeout=30)
    assert (response.tier, response.cold_tier) == ("S", "L")
    assert response.decision == pb.DECISION_FINAL

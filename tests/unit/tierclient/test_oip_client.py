"""How the OIP v2 client dials a tier: the mesh's target and load balancing, tritonclient's own
message sizes and keepalive (docs/load-balancing.md, "Tiers")."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tritonclient.grpc import MAX_GRPC_MESSAGE_SIZE, KeepAliveOptions

from codecascade.core.tiers import TierSpec
from codecascade.mesh.channels import ChannelOptions
from codecascade.tierclient import oip_client
from codecascade.tierclient.oip_client import OipTierClient, oip_channel_args


def _spec(address: str) -> TierSpec:
    return TierSpec(name="M", address=address, model="m", price_per_1k_tokens=0.1)


def test_channel_args_keep_tritonclients_defaults_and_add_round_robin() -> None:
    args = oip_channel_args()
    keys = [key for key, _ in args]
    assert len(keys) == len(set(keys)), "a key given twice"
    keepalive = KeepAliveOptions()
    assert dict(args) == {
        # tritonclient 2.73's defaults, which channel_args replaces.
        "grpc.max_send_message_length": MAX_GRPC_MESSAGE_SIZE,
        "grpc.max_receive_message_length": MAX_GRPC_MESSAGE_SIZE,
        "grpc.keepalive_time_ms": keepalive.keepalive_time_ms,
        "grpc.keepalive_timeout_ms": keepalive.keepalive_timeout_ms,
        "grpc.keepalive_permit_without_calls": keepalive.keepalive_permit_without_calls,
        "grpc.http2.max_pings_without_data": keepalive.http2_max_pings_without_data,
        # The mesh's load balancing.
        "grpc.lb_policy_name": "round_robin",
        "grpc.service_config": json.dumps({"loadBalancingConfig": [{"round_robin": {}}]}),
    }


def test_channel_args_follow_the_chosen_policy_not_the_mesh_size_limit() -> None:
    args = dict(oip_channel_args(ChannelOptions(lb_policy="pick_first", max_message_bytes=4096)))
    assert args["grpc.lb_policy_name"] == "pick_first"
    assert json.loads(str(args["grpc.service_config"])) == {
        "loadBalancingConfig": [{"pick_first": {}}]
    }
    # A tier's replies keep tritonclient's limit, not the mesh's.
    assert args["grpc.max_receive_message_length"] == MAX_GRPC_MESSAGE_SIZE


class _Recorder:
    """Stands in for tritonclient's InferenceServerClient: records how it was built."""

    made: list[dict[str, Any]] = []

    def __init__(self, **kwargs: Any) -> None:
        _Recorder.made.append(kwargs)

    async def close(self) -> None:
        return None


@pytest.mark.parametrize(
    ("address", "target"),
    [
        ("tier-m.codecascade.svc:8001", "dns:///tier-m.codecascade.svc:8001"),
        ("127.0.0.1:8001", "dns:///127.0.0.1:8001"),
        ("ipv4:127.0.0.1:1,127.0.0.1:2", "ipv4:127.0.0.1:1,127.0.0.1:2"),
        ("dns:///tier:8001", "dns:///tier:8001"),
    ],
)
async def test_client_dials_the_mesh_target_with_the_channel_args(
    monkeypatch, address, target
) -> None:
    monkeypatch.setattr(oip_client, "InferenceServerClient", _Recorder)
    _Recorder.made = []
    client = OipTierClient(_spec(address), channel_options=ChannelOptions(lb_policy="pick_first"))
    client._client()
    client._client()  # made once
    await client.close()
    assert _Recorder.made == [
        {"url": target, "channel_args": oip_channel_args(ChannelOptions(lb_policy="pick_first"))}
    ]

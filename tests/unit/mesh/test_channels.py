"""How mesh clients dial and how servers age connections (docs/load-balancing.md); no sockets."""

from __future__ import annotations

import json

import pytest

from codecascade.mesh.channels import channel_arguments, channel_target
from codecascade.mesh.settings import ChannelOptions, ConfigError
from codecascade.sandbox.config import SandboxSettings


@pytest.mark.parametrize(
    ("address", "target"),
    [
        (
            "codecascade-sandbox.ns.svc.cluster.local:50061",
            "dns:///codecascade-sandbox.ns.svc.cluster.local:50061",
        ),
        ("localhost:50061", "dns:///localhost:50061"),
        ("127.0.0.1:50061", "dns:///127.0.0.1:50061"),
        ("[::1]:50061", "dns:///[::1]:50061"),
        ("dns:///peer:1", "dns:///peer:1"),
        ("dns://10.0.0.10:53/peer:1", "dns://10.0.0.10:53/peer:1"),
        ("ipv4:127.0.0.1:1,127.0.0.1:2", "ipv4:127.0.0.1:1,127.0.0.1:2"),
        ("unix:///run/sandbox.sock", "unix:///run/sandbox.sock"),
    ],
)
def test_plain_addresses_go_through_dns_and_schemes_are_kept(address: str, target: str) -> None:
    assert channel_target(address) == target


def test_channel_arguments_name_the_policy_twice_and_the_size_limits() -> None:
    args = dict(channel_arguments(ChannelOptions()))
    assert args["grpc.lb_policy_name"] == "round_robin"
    config = json.loads(str(args["grpc.service_config"]))
    assert config == {"loadBalancingConfig": [{"round_robin": {}}]}
    assert args["grpc.max_receive_message_length"] == 16 * 1024 * 1024
    assert args["grpc.max_send_message_length"] == 16 * 1024 * 1024
    first = dict(channel_arguments(ChannelOptions("pick_first", 2048)))
    assert first["grpc.lb_policy_name"] == "pick_first"
    assert first["grpc.max_send_message_length"] == 2048


def test_servers_age_connections_by_default() -> None:
    options = dict(SandboxSettings().server_options())
    assert options["grpc.max_connection_age_ms"] == 60_000
    assert options["grpc.max_connection_age_grace_ms"] == 300_000


def test_age_and_policy_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_CONNECTION_AGE_S", "2.5")
    monkeypatch.setenv("MAX_CONNECTION_AGE_GRACE_S", "30")
    monkeypatch.setenv("GRPC_LB_POLICY", "pick_first")
    settings = SandboxSettings.load()
    options = dict(settings.server_options())
    assert options["grpc.max_connection_age_ms"] == 2500
    assert options["grpc.max_connection_age_grace_ms"] == 30_000
    assert settings.channel_options() == ChannelOptions("pick_first", settings.max_message_bytes)


def test_age_zero_turns_ageing_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_CONNECTION_AGE_S", "0")
    assert "grpc.max_connection_age_ms" not in dict(SandboxSettings.load().server_options())


def test_an_unknown_policy_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRPC_LB_POLICY", "least_request")
    with pytest.raises(ConfigError, match="GRPC_LB_POLICY"):
        SandboxSettings.load()

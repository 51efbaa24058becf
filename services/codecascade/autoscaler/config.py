"""Autoscaler settings (environment variables are the field names in upper case).

Every constant of the scaling rule (`autoscaler.policy`) is a setting here with its default, and
each tier may override any of them (`tiers: {L: {min_replicas: 0, latency_s: 40}}`); docs/
autoscaler.md has the table. The chart's `values.yaml` carries the same defaults.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from codecascade.autoscaler.policy import TierScaling
from codecascade.mesh.settings import ServiceSettings

__all__ = ["AutoscalerSettings", "ScalingOverrides", "TierObject"]

Mode = Literal["keda", "direct", "off"]
SignalSourceKind = Literal["prometheus", "scrape"]


class TierObject(BaseModel):
    """The Kubernetes object that runs one tier (settings: `kube_targets`, tier name -> object);
    mode direct scales it through `autoscaler.kube.KubeScaleTarget`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["deployment", "inferenceservice"]
    name: str = Field(min_length=1)


class ScalingOverrides(BaseModel):
    """One tier's departures from the shared scaling settings (unset: the shared value)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    capacity: float | None = Field(default=None, gt=0)
    target_utilisation: float | None = Field(default=None, gt=0, le=1)
    latency_s: float | None = Field(default=None, gt=0)
    min_replicas: int | None = Field(default=None, ge=0)
    max_replicas: int | None = Field(default=None, ge=0)
    stabilisation_window_s: float | None = Field(default=None, ge=0)
    activation_threshold: float | None = Field(default=None, ge=0)
    leading_indicator: bool | None = None
    escalation_prior: float | None = Field(default=None, ge=0, le=1)


class AutoscalerSettings(ServiceSettings):
    """Where the signals come from, how each tier is sized, and how the decision is applied."""

    config_section: ClassVar[str] = "autoscaler"

    grpc_port: int = Field(
        default=50063, ge=0, le=65535, description="gRPC port (KEDA's External Scaler, health)."
    )
    mode: Mode = Field(
        default="keda",
        description="keda: answer KEDA's External Scaler calls; direct: set each tier's replicas "
        "through a ScaleTarget (kube.py); off: compute and export the decision only.",
    )
    chain: list[str] = Field(
        default_factory=lambda: ["S", "M", "L"],
        min_length=1,
        description="Tier names in cascade order (the router policy's tiers): tier i's "
        "leading indicator is read from chain[i-1].",
    )
    scaled_tiers: list[str] = Field(
        default_factory=list,
        description="Tiers mode direct sets (and the chart gives ScaledObjects); empty: every "
        "tier of chain but the first, which scales on its own load like the router.",
    )
    signal_source: SignalSourceKind = Field(
        default="prometheus",
        description="prometheus: PromQL over the HTTP API at prometheus_url; scrape: read the "
        "routers' /metrics (router_metrics_urls) directly.",
    )
    prometheus_url: str = Field(
        default="http://127.0.0.1:9090",
        description="Prometheus base URL (signal_source prometheus).",
    )
    prometheus_matchers: str = Field(
        default="",
        description='Label matchers added to every router series, e.g. job="router", '
        'namespace="codecascade" (one Prometheus may scrape several meshes).',
    )
    router_metrics_urls: list[str] = Field(
        default_factory=list,
        description="The routers' /metrics URLs (signal_source scrape); their series are summed.",
    )
    router_metrics_resolve: bool = Field(
        default=False,
        description="Scrape every address each router URL's host resolves to, as one router each "
        "(a headless Service: every ready router pod); false: each URL is one router.",
    )
    poll_interval_s: float = Field(
        default=5.0, gt=0, description="Seconds between two reads of the signals (and decisions)."
    )
    rate_window_s: float = Field(
        default=60.0,
        gt=0,
        description="Window over which arrival rates, escalation probability and work per "
        "arrival are measured (PromQL range; at least two scrape intervals).",
    )
    stale_after_s: float = Field(
        default=30.0,
        gt=0,
        description="A decision older than this (the signals unreadable since) is answered "
        "UNAVAILABLE to KEDA, which then applies the ScaledObject's fallback.",
    )
    request_timeout_s: float = Field(
        default=5.0, gt=0, description="Deadline of one Prometheus query or one /metrics scrape."
    )
    capacity: float = Field(
        default=1.0,
        gt=0,
        description="Concurrent requests one replica of a tier serves (its engine's parallel "
        "slots): replica-seconds of work per second.",
    )
    target_utilisation: float = Field(
        default=0.7, gt=0, le=1, description="Share of a replica's capacity the rule aims to use."
    )
    latency_s: float = Field(
        default=10.0,
        gt=0,
        description="Expected seconds per request in a tier, used until one is measured "
        "(work per arrival, and the leading indicator's upstream latency).",
    )
    min_replicas: int = Field(default=0, ge=0, description="Fewest replicas of a scaled tier.")
    max_replicas: int = Field(default=4, ge=0, description="Most replicas of a scaled tier.")
    stabilisation_window_s: float = Field(
        default=300.0,
        ge=0,
        description="Scale down (and deactivate) only after this long without the higher "
        "recommendation; scale up at once.",
    )
    activation_threshold: float = Field(
        default=0.0,
        ge=0,
        description="Forecast arrivals per second above which a tier leaves zero (0: the first "
        "forecast escalation).",
    )
    leading_indicator: bool = Field(
        default=True,
        description="Forecast from the requests in the tier below (in-flight x escalation "
        "probability / latency); false: measured arrivals only.",
    )
    escalation_prior: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Escalation probability assumed before the tier below has finished requests "
        "in the window (a Beta prior of escalation_prior_weight requests).",
    )
    escalation_prior_weight: float = Field(
        default=2.0, ge=0, description="Weight of escalation_prior, in requests."
    )
    kubeconfig: str = Field(
        default="",
        description="Mode direct: a kubeconfig file; empty: the pod's ServiceAccount in a "
        "cluster, else $KUBECONFIG or ~/.kube/config.",
    )
    kube_namespace: str = Field(
        default="", description="Mode direct: the namespace of the tiers' objects."
    )
    kube_targets: dict[str, TierObject] = Field(
        default_factory=dict,
        description="Mode direct: the object each scaled tier runs as (tier name -> kind "
        "deployment | inferenceservice, name).",
    )
    tiers: dict[str, ScalingOverrides] = Field(
        default_factory=dict,
        description="Per-tier overrides of the settings above (tier name -> fields).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if len(set(self.chain)) != len(self.chain):
            raise ValueError(f"chain names a tier twice: {self.chain}")
        unknown = sorted(set(self.scaled_tiers) - set(self.chain))
        if unknown:
            raise ValueError(f"scaled_tiers {unknown} are not in chain {self.chain}")
        unknown = sorted(set(self.tiers) - set(self.chain))
        if unknown:
            raise ValueError(
                f"tiers overrides name {unknown}, which are not in chain {self.chain}; "
                "add them to chain or fix the names"
            )
        if self.signal_source == "scrape" and not self.router_metrics_urls:
            raise ValueError(
                "signal_source scrape needs router_metrics_urls (the routers' /metrics URLs, "
                'e.g. ["http://127.0.0.1:9464/metrics"])'
            )
        if self.mode == "direct":
            scaled = self.scaled_tiers or self.chain[1:]
            missing = sorted(set(scaled) - set(self.kube_targets))
            if missing or not self.kube_namespace:
                raise ValueError(
                    f"mode direct needs kube_namespace and a kube_targets entry for every scaled "
                    f"tier; missing objects for {missing}"
                )
        for tier in self.chain:
            self.scaling(tier)  # raises on an inconsistent merge (min > max)
        return self

    def _merged(self, tier: str) -> dict[str, Any]:
        shared = {
            name: getattr(self, name)
            for name in ScalingOverrides.model_fields
            if name != "escalation_prior"
        }
        own = self.tiers.get(tier)
        if own is not None:
            shared.update(own.model_dump(exclude_none=True, exclude={"escalation_prior"}))
        return shared

    def scaling(self, tier: str) -> TierScaling:
        """The rule's constants for `tier`: the shared settings with the tier's overrides."""
        try:
            return TierScaling(**self._merged(tier))
        except ValueError as exc:
            raise ValueError(f"tier {tier}: {exc}") from exc

    def prior(self, tier: str) -> float:
        """The escalation prior into `tier` (from the tier below it)."""
        own = self.tiers.get(tier)
        if own is not None and own.escalation_prior is not None:
            return own.escalation_prior
        return self.escalation_prior

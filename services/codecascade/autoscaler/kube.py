"""The `direct` mode's ScaleTarget: the autoscaler sets each tier's replicas through the API server.

For clusters without KEDA (docs/deploy.md, "Autoscaling"). A tier is one of two kinds of object:

- a `Deployment` (a Triton tier, or any Deployment an operator names): its `scale` subresource is
  patched (`PATCH .../deployments/<name>/scale`), the same call `kubectl scale` and the HPA make,
  so RBAC can grant exactly `get`/`patch` on `deployments/scale` for the named Deployments and
  nothing on the Deployments themselves;
- a KServe `InferenceService`: `spec.predictor.minReplicas` and `maxReplicas` are both set to the
  decision (KServe's controller then sizes the predictor). RBAC: `get`/`patch` on the named
  `inferenceservices`.

The client is the official `kubernetes` package (a pinned extra, `autoscaler`, of the mesh
image). It is synchronous; a decision is at most one call per tier every few seconds, so each call
runs in a worker thread (`asyncio.to_thread`) rather than bringing a second, asyncio port of the
generated client (kubernetes-asyncio) into the image. Credentials: the pod's ServiceAccount token
(in-cluster config) when running in a pod, else a kubeconfig file (`cascade serve autoscaler` on
a workstation, the tests).

API errors become `ScaleError`s that say what to fix: a 403 names the verb, the resource and the
object the ServiceAccount lacks (the chart's Role grants exactly those); a 404 names the object
the mapping points at.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from codecascade.autoscaler.config import TierObject

__all__ = ["KubeScaleTarget", "ScaleError", "TierObject", "load_api_client"]

KSERVE_GROUP = "serving.kserve.io"
KSERVE_VERSION = "v1beta1"
MERGE_PATCH = "application/merge-patch+json"


class ScaleError(RuntimeError):
    """A scale call the API server refused or could not take; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class _Call:
    verb: Literal["get", "patch"]
    resource: str  # as RBAC names it: deployments/scale, inferenceservices.serving.kserve.io
    name: str


def load_api_client(kubeconfig: str = "") -> client.ApiClient:
    """An API client from `kubeconfig` when given, else in-cluster config (in a pod), else the
    default kubeconfig (`$KUBECONFIG`, ~/.kube/config)."""
    configuration = client.Configuration()
    try:
        if kubeconfig:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, client_configuration=configuration
            )
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError) as exc:
        where = kubeconfig or (
            "the pod's ServiceAccount token (automountServiceAccountToken must be true for the "
            "autoscaler)"
            if os.environ.get("KUBERNETES_SERVICE_HOST")
            else "$KUBECONFIG or ~/.kube/config"
        )
        raise ScaleError(f"no Kubernetes credentials from {where}: {exc}") from exc
    return client.ApiClient(configuration)


class KubeScaleTarget:
    """Sets tier replicas on the API server (implements the autoscaler's `ScaleTarget`)."""

    def __init__(
        self,
        api: client.ApiClient,
        *,
        namespace: str,
        objects: Mapping[str, TierObject],
        request_timeout_s: float = 10.0,
    ) -> None:
        if not namespace:
            raise ScaleError("direct mode needs the namespace of the tier objects (kube_namespace)")
        self._api = api
        self._apps = client.AppsV1Api(api)
        self._custom = client.CustomObjectsApi(api)
        self._namespace = namespace
        self._objects = dict(objects)
        self._timeout = request_timeout_s

    @property
    def namespace(self) -> str:
        return self._namespace

    def close(self) -> None:
        self._api.close()  # type: ignore[no-untyped-call]

    async def set_replicas(self, tier: str, replicas: int) -> None:
        """Scale `tier` to `replicas` (an idempotent merge patch: repeating a decision is free)."""
        if replicas < 0:
            raise ScaleError(f"tier {tier!r}: replicas must be >= 0, got {replicas}")
        await asyncio.to_thread(self._set, self._object(tier), replicas)

    async def replicas(self, tier: str) -> int:
        """The replicas the tier's object asks for now (spec, not ready pods)."""
        return await asyncio.to_thread(self._get, self._object(tier))

    def _object(self, tier: str) -> TierObject:
        try:
            return self._objects[tier]
        except KeyError:
            known = ", ".join(sorted(self._objects)) or "none"
            raise ScaleError(
                f"tier {tier!r} has no Kubernetes object in kube_targets (configured: {known}); "
                "add it (kind deployment or inferenceservice, and its name)"
            ) from None

    def _set(self, obj: TierObject, replicas: int) -> None:
        if obj.kind == "deployment":
            call = _Call("patch", "deployments/scale", obj.name)
            with self._errors(call):
                self._apps.patch_namespaced_deployment_scale(
                    obj.name,
                    self._namespace,
                    {"spec": {"replicas": replicas}},
                    _content_type=MERGE_PATCH,
                    _request_timeout=self._timeout,
                )
        else:
            call = _Call("patch", f"inferenceservices.{KSERVE_GROUP}", obj.name)
            body = {"spec": {"predictor": {"minReplicas": replicas, "maxReplicas": replicas}}}
            with self._errors(call):
                self._custom.patch_namespaced_custom_object(
                    KSERVE_GROUP,
                    KSERVE_VERSION,
                    self._namespace,
                    "inferenceservices",
                    obj.name,
                    body,
                    _content_type=MERGE_PATCH,
                    _request_timeout=self._timeout,
                )

    def _get(self, obj: TierObject) -> int:
        if obj.kind == "deployment":
            with self._errors(_Call("get", "deployments/scale", obj.name)):
                scale = self._apps.read_namespaced_deployment_scale(
                    obj.name, self._namespace, _request_timeout=self._timeout
                )
            return int(scale.spec.replicas or 0) if scale.spec else 0
        with self._errors(_Call("get", f"inferenceservices.{KSERVE_GROUP}", obj.name)):
            isvc: Any = self._custom.get_namespaced_custom_object(
                KSERVE_GROUP,
                KSERVE_VERSION,
                self._namespace,
                "inferenceservices",
                obj.name,
                _request_timeout=self._timeout,
            )
        return int(isvc.get("spec", {}).get("predictor", {}).get("minReplicas") or 0)

    def _errors(self, call: _Call) -> contextlib.AbstractContextManager[None]:
        return _api_errors(call, self._namespace)


@contextlib.contextmanager
def _api_errors(call: _Call, ns: str) -> Iterator[None]:
    """Turns the client's exceptions for one call into a ScaleError that says what to fix."""
    try:
        yield
    except ApiException as exc:
        reason = _api_message(exc)
        if exc.status == 403:
            raise ScaleError(
                f"RBAC forbids {call.verb!r} on {call.resource} {call.name!r} in namespace "
                f"{ns!r}: the autoscaler's ServiceAccount needs a Role granting verb "
                f"{call.verb!r} on resource {call.resource!r} (resourceNames: {call.name}) and a "
                f"RoleBinding to it (the chart makes both with autoscaling.mode=direct). "
                f"API server: {reason}"
            ) from exc
        if exc.status == 404:
            raise ScaleError(
                f"{call.resource.split('/')[0]} {call.name!r} not found in namespace {ns!r}: "
                f"kube_targets points a tier at it; check the name and kube_namespace. "
                f"API server: {reason}"
            ) from exc
        raise ScaleError(
            f"{call.verb} {call.resource} {call.name!r} in {ns!r} failed "
            f"(HTTP {exc.status}): {reason}"
        ) from exc
    except (OSError, urllib3.exceptions.HTTPError) as exc:
        raise ScaleError(
            f"{call.verb} {call.resource} {call.name!r}: the API server is unreachable: {exc}"
        ) from exc


def _api_message(exc: ApiException) -> str:
    """The Status message of an API error body, else its reason."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return str(exc.reason)
    return str(body.get("message") or exc.reason) if isinstance(body, dict) else str(exc.reason)

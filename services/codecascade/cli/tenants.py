"""`cascade tenants add|revoke|list|org --file tenants.yaml` and `cascade usage`.

The first edit the tenants file the router's edge reads (it reloads it on change); `add` prints
the new key once, on stdout, and nothing but its hash is kept. `cascade usage` asks a running
router (GetUsage) with a key.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from codecascade.core.errors import CascadeError
from codecascade.mesh.channels import open_channel
from codecascade.mesh.interceptors import ClientInterceptor
from codecascade.mesh.telemetry import rpc_client_interceptors
from codecascade.tenancy.admin import add_client_cert, add_key, revoke_key, set_organisation
from codecascade.tenancy.keys import cert_fingerprint
from codecascade.tenancy.tenants import TenantsFile, read_tenants, write_tenants
from codecascade.v1 import cascade_service_pb2 as pb
from codecascade.v1 import cascade_service_pb2_grpc as pb_grpc

__all__ = ["API_KEY_ENV", "add_parsers", "render_tenants", "render_usage", "router_channel"]

API_KEY_ENV = "CODECASCADE_API_KEY"
DEFAULT_ROUTER = "127.0.0.1:50060"
_SCOPES = {
    pb.BUDGET_SCOPE_TENANT_PERIOD: "tenant",
    pb.BUDGET_SCOPE_TENANT_LIFETIME: "tenant lifetime",
    pb.BUDGET_SCOPE_ORGANISATION_PERIOD: "organisation",
    pb.BUDGET_SCOPE_ORGANISATION_LIFETIME: "organisation lifetime",
}


def _budget(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.budget_usd is None:
        return None
    return {"period": args.period, "usd": args.budget_usd, "lifetime_usd": args.lifetime_usd}


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """What `add` was told to set; options left out leave the tenant as it is."""
    fields: dict[str, Any] = {}
    budget = _budget(args)
    if budget is not None:
        fields["budget"] = budget
    if args.org is not None:
        fields["organisation"] = args.org
    if args.degrade is not None:
        fields["on_budget_exhausted"] = "degrade" if args.degrade else "refuse"
    limits = {
        "requests_per_min": args.requests_per_min,
        "tokens_per_min": args.tokens_per_min,
        "concurrent_requests": args.concurrent_requests,
    }
    if any(v is not None for v in limits.values()):
        fields["rate_limits"] = limits
    if args.weight is not None:
        fields["weight"] = args.weight
    if args.tiers is not None:
        fields["allowed_tiers"] = [t for t in args.tiers.split(",") if t]
    if args.max_tier is not None:
        fields["max_tier"] = args.max_tier
    if args.policy_file is not None:
        fields["policy_file"] = args.policy_file
    if args.admin:
        fields["admin"] = True
    return fields


def _add(args: argparse.Namespace) -> int:
    path = Path(args.file)
    tenants, key, key_id = add_key(
        read_tenants(path), args.tenant, now=datetime.now(UTC), settings=_settings(args)
    )
    write_tenants(path, tenants)
    print(
        f"added key {key_id} for tenant {args.tenant} to {path}; the key is shown once, "
        "keep it secret:",
        file=sys.stderr,
    )
    print(key)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    path = Path(args.file)
    tenants, tenant = revoke_key(read_tenants(path), args.key_id, now=datetime.now(UTC))
    write_tenants(path, tenants)
    print(f"revoked key {args.key_id} of tenant {tenant} in {path}", file=sys.stderr)
    return 0


def _org(args: argparse.Namespace) -> int:
    path = Path(args.file)
    write_tenants(path, set_organisation(read_tenants(path), args.org_id, _budget(args)))
    print(f"organisation {args.org_id} set in {path}", file=sys.stderr)
    return 0


def _cert(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        fingerprint = cert_fingerprint(Path(args.cert).read_text(encoding="ascii"))
    except (OSError, ValueError) as exc:
        print(f"cascade tenants cert: {args.cert}: {exc}", file=sys.stderr)
        return 1
    write_tenants(path, add_client_cert(read_tenants(path), args.tenant, fingerprint))
    print(
        f"client certificate sha256 {fingerprint} now names tenant {args.tenant}", file=sys.stderr
    )
    return 0


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(TenantsFile.model_json_schema(), indent=2))
    return 0


def _money(budget: Any) -> str:
    if budget is None:
        return "unmetered"
    text = f"${budget.usd:g}/{budget.period}"
    if budget.lifetime_usd is not None:
        text += f", ${budget.lifetime_usd:g} lifetime"
    return text


def render_tenants(tenants: TenantsFile) -> str:
    """The file as a person wants to read it (keys by id; hashes are not shown)."""
    lines = []
    for org in tenants.organisations:
        lines.append(f"organisation {org.id}: {_money(org.budget)}")
    for t in tenants.tenants:
        limits = t.rate_limits
        extras = [
            f"org {t.organisation}" if t.organisation else "",
            _money(t.budget),
            f"on exhaustion {t.on_budget_exhausted}",
            f"{limits.requests_per_min:g} req/min" if limits.requests_per_min else "",
            f"{limits.tokens_per_min:g} tok/min" if limits.tokens_per_min else "",
            f"{limits.concurrent_requests} concurrent" if limits.concurrent_requests else "",
            f"weight {t.weight:g}",
            f"tiers {','.join(t.allowed_tiers)}" if t.allowed_tiers else "",
            f"up to {t.max_tier}" if t.max_tier else "",
            f"policy {t.policy_file}" if t.policy_file else "",
            "admin" if t.admin else "",
        ]
        lines.append(f"tenant {t.id}: " + "; ".join(e for e in extras if e))
        for fingerprint in t.client_certs:
            lines.append(f"  client certificate sha256 {fingerprint}")
        for key in t.keys:
            state = f"revoked {key.revoked:%Y-%m-%d %H:%M}" if key.revoked else "live"
            lines.append(f"  {key.id}  created {key.created:%Y-%m-%d %H:%M}  {state}")
    return "\n".join(lines) if lines else "no tenants"


def _list(args: argparse.Namespace) -> int:
    print(render_tenants(read_tenants(Path(args.file))))
    return 0


def render_usage(response: pb.GetUsageResponse) -> str:
    org = f" (organisation {response.organisation_id})" if response.organisation_id else ""
    lines = [f"tenant {response.tenant_id}{org}"]
    for b in response.budgets:
        scope = _SCOPES.get(b.scope, "?") + (f" {b.period}" if b.period else "")
        limit = (
            f"limit ${b.limit_usd:.6f}, remaining ${b.remaining_usd:.6f}"
            if b.limited
            else "no limit"
        )
        lines.append(
            f"  {scope}: spent ${b.spent_usd:.6f}, reserved ${b.reserved_usd:.6f}, {limit}"
        )
        for tier in b.tiers:
            lines.append(f"    {tier.tier}: {tier.completion_tokens} tokens, ${tier.cost_usd:.6f}")
    return "\n".join(lines)


def router_channel(
    address: str, *, ca_file: str = "", cert_file: str = "", key_file: str = ""
) -> grpc.aio.Channel:
    """A channel to the router: TLS when a CA file is given (with a client certificate for
    mTLS when one is), else plain."""
    if not ca_file:
        return open_channel(address)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=Path(ca_file).read_bytes(),
        private_key=Path(key_file).read_bytes() if key_file else None,
        certificate_chain=Path(cert_file).read_bytes() if cert_file else None,
    )
    return grpc.aio.secure_channel(
        address, credentials, interceptors=[*rpc_client_interceptors(), ClientInterceptor()]
    )


async def _get_usage(
    address: str, key: str, tenant: str, period: str, **tls: str
) -> pb.GetUsageResponse:
    async with router_channel(address, **tls) as channel:
        stub = pb_grpc.CascadeServiceStub(channel)
        metadata = (("authorization", f"Bearer {key}"),) if key else ()
        return await stub.GetUsage(
            pb.GetUsageRequest(tenant_id=tenant, period=period), metadata=metadata, timeout=30
        )


def _usage(args: argparse.Namespace) -> int:
    key = args.key or os.environ.get(API_KEY_ENV, "")
    try:
        response = asyncio.run(
            _get_usage(
                args.address,
                key,
                args.tenant,
                args.period,
                ca_file=args.tls_ca,
                cert_file=args.tls_cert,
                key_file=args.tls_key,
            )
        )
    except grpc.aio.AioRpcError as exc:
        print(f"cascade usage: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    print(render_usage(response))
    return 0


def _guarded(run: Any) -> Any:
    def guarded(args: argparse.Namespace) -> int:
        try:
            return int(run(args))
        except CascadeError as exc:
            print(f"cascade tenants: {exc}", file=sys.stderr)
            return 1

    return guarded


def tls_options(parser: argparse.ArgumentParser) -> None:
    """--tls-ca (TLS to the router's public port), --tls-cert/--tls-key (a client certificate)."""
    parser.add_argument("--tls-ca", default="", help="CA bundle: talk TLS to the router")
    parser.add_argument("--tls-cert", default="", help="client certificate (mTLS)")
    parser.add_argument("--tls-key", default="", help="its private key")


def _budget_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--budget-usd", type=float, default=None, help="dollars per period")
    parser.add_argument("--period", choices=("day", "month"), default="month", help="UTC period")
    parser.add_argument("--lifetime-usd", type=float, default=None, help="a cap over all time")


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tenants = commands.add_parser(
        "tenants",
        help="manage the tenants file (API keys, budgets, limits)",
        description="Edit the tenants file the router's edge reads (TENANTS_FILE); the router "
        "picks up changes without a restart.",
    )
    sub = tenants.add_subparsers(dest="tenants_command", metavar="COMMAND", required=True)

    add = sub.add_parser("add", help="add a tenant or a key to one; prints the key once on stdout")
    add.add_argument("tenant", help="tenant id")
    add.add_argument("--file", required=True, help="the tenants file")
    add.add_argument("--org", default=None, help="its organisation (added when missing)")
    _budget_options(add)
    add.add_argument(
        "--degrade",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="when the budget cannot pay for a tier, answer with the best it can afford",
    )
    add.add_argument("--requests-per-min", type=float, default=None)
    add.add_argument("--tokens-per-min", type=float, default=None)
    add.add_argument("--concurrent-requests", type=int, default=None)
    add.add_argument("--weight", type=float, default=None, help="fair-share weight")
    add.add_argument("--tiers", default=None, help="allowed tiers, comma-separated")
    add.add_argument("--max-tier", default=None, help="highest tier it may reach")
    add.add_argument("--policy-file", default=None, help="its own cascade policy file")
    add.add_argument("--admin", action="store_true", help="may read any tenant's usage")
    add.set_defaults(run=_guarded(_add))

    revoke = sub.add_parser("revoke", help="revoke a key by its id (it stays listed)")
    revoke.add_argument("key_id", help="the key's id, from `cascade tenants list`")
    revoke.add_argument("--file", required=True, help="the tenants file")
    revoke.set_defaults(run=_guarded(_revoke))

    listing = sub.add_parser("list", help="show tenants, budgets, limits and keys (no hashes)")
    listing.add_argument("--file", required=True, help="the tenants file")
    listing.set_defaults(run=_guarded(_list))

    cert = sub.add_parser(
        "cert", help="let a client certificate (mTLS) name a tenant, by its sha256 fingerprint"
    )
    cert.add_argument("tenant", help="tenant id")
    cert.add_argument("--file", required=True, help="the tenants file")
    cert.add_argument("--cert", required=True, help="the client's PEM certificate")
    cert.set_defaults(run=_guarded(_cert))

    schema = sub.add_parser("schema", help="print the tenants file's JSON schema")
    schema.set_defaults(run=_schema)

    org = sub.add_parser("org", help="add an organisation or set its budget")
    org.add_argument("org_id", help="organisation id")
    org.add_argument("--file", required=True, help="the tenants file")
    _budget_options(org)
    org.set_defaults(run=_guarded(_org))

    usage = commands.add_parser(
        "usage",
        help="a tenant's spend, reservations and remaining budget (GetUsage)",
        description=f"Asks the router with an API key (--key or ${API_KEY_ENV}).",
    )
    usage.add_argument("--address", default=DEFAULT_ROUTER, help="router address")
    usage.add_argument("--key", default="", help=f"API key (default: ${API_KEY_ENV})")
    usage.add_argument("--tenant", default="", help="another tenant (needs an admin key)")
    usage.add_argument("--period", default="", help="2026-12-02 or 2026-12; default: current")
    tls_options(usage)
    usage.set_defaults(run=_usage)

"""Tenancy: who is calling (API keys), what they may spend (the ledger) and how fast (limits).

Domain modules only (no gRPC): `keys` (making and hashing API keys), `tenants` (the tenants file,
its schema and the directory that reloads it), `ledger` (budgets that cannot be overspent:
reserve, settle, release against every account a call draws on), `memory` and `redis_store` (the
ledger's two stores), `ratelimit` (token buckets and a concurrency cap per tenant) and `edge`
(all of it for one call, as the router's public edge uses it). The router reads the metadata and
maps the errors; see docs/tenancy.md.
"""

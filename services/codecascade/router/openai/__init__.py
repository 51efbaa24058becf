"""The cascade behind an OpenAI-compatible HTTP API (docs/openai.md): `mapping` (requests to
cascade tasks, parameter rules), `app` (the ASGI app: chat and text completions, streaming,
models, errors in OpenAI's shape) and `server` (uvicorn inside the router's event loop). Every
request goes through `router.gateway`, the same edge the gRPC API uses."""

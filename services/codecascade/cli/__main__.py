"""`python -m codecascade.cli`: the same as the `cascade` console script."""

from __future__ import annotations

from codecascade.cli import main

raise SystemExit(main())

"""The evaluation cache: one directory, a settings file and append-only JSONL per tier and phase.

Generation is the expensive part (hours for 164 problems on CPU), so every problem is written as
soon as it is done and a rerun skips what is there. The settings file pins what the cache means
(dataset, tiers and prices, k_max, l_max, seed); a rerun with other settings is refused rather
than mixed in. A half-written last line (the process was killed mid-write) is ignored and redone.

Per (tier, problem), `generations-<tier>.jsonl` holds the raw model output, the programs made of
it, generated tokens and CPU-seconds for every call; `executions-<tier>.jsonl` holds the pass
matrix of every sampled and greedy solution against every distinct test, and each solution's
result on the hidden test. Matrix rows are strings of 0/1 to keep the lines short.

Cache format 2 adds `cross.jsonl`: per problem, every tier's solutions against the union of
every tier's asserts (tests carried up the cascade, and selection with all tiers' tests), made
from the cached generations alone (`cascade eval --cross`). A format 1 cache (no `cache_format`
in its settings) still reads; it simply has no cross matrices, and the options needing them are
left out of the grid.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from codecascade.core.tiers import TierSpec
from codecascade.evaluation.errors import CacheMismatch

__all__ = [
    "CACHE_FORMAT",
    "HARVEST_VERSION",
    "AssertGeneration",
    "Call",
    "CrossRecord",
    "EvalCache",
    "EvalSettings",
    "ExecutionRecord",
    "GenerationRecord",
]


# How generations are requested. 1: one request per sample (each sample's seconds measured on
# its own). 2: the samples of a tier in one request, decoded in one batch, as the product asks;
# seconds split by tokens. Caches of different versions price the same work differently.
HARVEST_VERSION = 2

# What the cache directory may hold. 1: generations and executions per tier. 2: also
# `cross.jsonl` (every tier's solutions against every tier's asserts). Older files read as 1.
CACHE_FORMAT = 2


@dataclass(frozen=True, slots=True)
class EvalSettings:
    """What one cache directory was generated with."""

    dataset: str
    tiers: tuple[TierSpec, ...]  # the cache pins each tier's name and price, not where it ran
    k_max: int
    l_max: int
    seed: int
    max_tokens: int
    task_ids: tuple[str, ...] = ()
    harvest_version: int = HARVEST_VERSION
    cache_format: int = CACHE_FORMAT

    def to_json(self) -> dict[str, Any]:
        tiers = [t.model_dump(include={"name", "price_per_1k_tokens"}) for t in self.tiers]
        return {**asdict(self), "tiers": tiers}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvalSettings:
        return cls(
            dataset=data["dataset"],
            tiers=tuple(TierSpec.model_validate({"model": t["name"], **t}) for t in data["tiers"]),
            k_max=int(data["k_max"]),
            l_max=int(data["l_max"]),
            seed=int(data["seed"]),
            max_tokens=int(data["max_tokens"]),
            task_ids=tuple(data.get("task_ids", ())),
            harvest_version=int(data.get("harvest_version", 1)),  # before the field: 1
            cache_format=int(data.get("cache_format", 1)),  # before the field: 1
        )

    def price(self, tier: str) -> float:
        return next(t.price_per_1k_tokens for t in self.tiers if t.name == tier)

    @property
    def tier_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tiers)


@dataclass(frozen=True, slots=True)
class Call:
    """One model call: what it returned (raw text and the program made of it) and what it cost."""

    text: str
    tokens: int
    cpu_s: float
    wall_s: float
    code: str = ""


@dataclass(frozen=True, slots=True)
class AssertGeneration:
    """One test generation: its kept asserts in order (position = line index l), and its cost."""

    asserts: tuple[str, ...]
    tokens: int
    cpu_s: float
    wall_s: float


@dataclass(frozen=True, slots=True)
class GenerationRecord:
    """Everything one tier generated for one problem, at the grid's largest k and l."""

    task_id: str
    tier: str
    samples: tuple[Call, ...]  # k_max solutions at T = 0.8, seeds seed .. seed + k_max - 1
    greedy: Call  # the one greedy answer used for k = 0 and k = 1
    test_generations: tuple[AssertGeneration, ...]  # k_max sampled generations of l_max lines
    greedy_tests: AssertGeneration  # the greedy generation a k = 1 tier writes
    examples: tuple[str, ...]  # the task's own examples, asserts (the product adds them)
    entry_point: str = ""  # the function the asserts call (reads their claims for agreement)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GenerationRecord:
        def tests(d: dict[str, Any]) -> AssertGeneration:
            return AssertGeneration(tuple(d["asserts"]), d["tokens"], d["cpu_s"], d["wall_s"])

        return cls(
            task_id=data["task_id"],
            tier=data["tier"],
            samples=tuple(Call(**c) for c in data["samples"]),
            greedy=Call(**data["greedy"]),
            test_generations=tuple(tests(t) for t in data["test_generations"]),
            greedy_tests=tests(data["greedy_tests"]),
            examples=tuple(data["examples"]),
            entry_point=data.get("entry_point", ""),
        )


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    """The full matrix of one (tier, problem); any (k, l) is a sub-matrix of it.

    `columns` are the distinct asserts; `example_columns`, `generation_columns[g][p]` (the p-th
    assert of sampled generation g) and `greedy_columns[p]` say where each test went. Rows are
    the k_max samples, then the greedy answer.
    """

    task_id: str
    tier: str
    columns: tuple[str, ...]
    example_columns: tuple[int, ...]
    generation_columns: tuple[tuple[int, ...], ...]
    greedy_columns: tuple[int, ...]
    matrix: tuple[str, ...]  # one "0101…" string per row
    hidden: str  # one 0/1 per row: passes the benchmark's own test
    sandbox_s: float = 0.0
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExecutionRecord:
        return cls(
            task_id=data["task_id"],
            tier=data["tier"],
            columns=tuple(data["columns"]),
            example_columns=tuple(data["example_columns"]),
            generation_columns=tuple(tuple(g) for g in data["generation_columns"]),
            greedy_columns=tuple(data["greedy_columns"]),
            matrix=tuple(data["matrix"]),
            hidden=data["hidden"],
            sandbox_s=float(data.get("sandbox_s", 0.0)),
            notes=tuple(data.get("notes", ())),
        )

    def passes(self, row: int, column: int) -> bool:
        return self.matrix[row][column] == "1"


@dataclass(frozen=True, slots=True)
class CrossRecord:
    """One problem's solutions of every tier against the union of every tier's asserts.

    `rows` names each row (tier, cache row: samples then greedy); `columns` are the distinct
    asserts of every tier (examples, sampled and greedy generations), in tier order. `version`
    is the record's own format, so a later change can still read these lines.
    """

    task_id: str
    rows: tuple[tuple[str, int], ...]
    columns: tuple[str, ...]
    matrix: tuple[str, ...]  # one "0101…" string per row
    sandbox_s: float = 0.0
    version: int = 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CrossRecord:
        version = int(data.get("version", 1))
        if version != 1:
            raise CacheMismatch(f"cross record version {version} is newer than this code reads")
        return cls(
            task_id=data["task_id"],
            rows=tuple((str(t), int(r)) for t, r in data["rows"]),
            columns=tuple(data["columns"]),
            matrix=tuple(data["matrix"]),
            sandbox_s=float(data.get("sandbox_s", 0.0)),
            version=version,
        )


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill: that problem is simply redone


class EvalCache:
    """A cache directory; `open` checks (or writes) its settings."""

    def __init__(self, root: Path, settings: EvalSettings) -> None:
        self.root = root
        self.settings = settings

    @classmethod
    def open(cls, root: Path, settings: EvalSettings) -> EvalCache:
        """Creates the cache, or reopens it when it was made with the same settings."""
        root.mkdir(parents=True, exist_ok=True)
        meta = root / "settings.json"
        if meta.exists():
            old = EvalSettings.from_json(json.loads(meta.read_text(encoding="utf-8")))
            mine, theirs = settings.to_json(), old.to_json()
            for key in ("task_ids", "cache_format"):  # a format 1 cache is extended in place
                mine.pop(key)
                theirs.pop(key)
            if mine != theirs:
                changed = sorted(k for k in mine if mine[k] != theirs[k])
                raise CacheMismatch(
                    f"{root} was made with other settings ({', '.join(changed)}): "
                    f"{theirs}; use another --cache directory"
                )
            ids = list(old.task_ids) + [t for t in settings.task_ids if t not in old.task_ids]
            settings = replace(settings, task_ids=tuple(ids))
        meta.write_text(json.dumps(settings.to_json(), indent=1), encoding="utf-8")
        return cls(root, settings)

    @classmethod
    def load(cls, root: Path) -> EvalCache:
        """An existing cache, for offline evaluation."""
        meta = root / "settings.json"
        if not meta.exists():
            raise CacheMismatch(f"{root} is not an evaluation cache (no settings.json)")
        return cls(root, EvalSettings.from_json(json.loads(meta.read_text(encoding="utf-8"))))

    def _path(self, kind: str, tier: str) -> Path:
        return self.root / f"{kind}-{tier}.jsonl"

    def generations(self, tier: str) -> dict[str, GenerationRecord]:
        records = (GenerationRecord.from_json(d) for d in _lines(self._path("generations", tier)))
        return {r.task_id: r for r in records}

    def executions(self, tier: str) -> dict[str, ExecutionRecord]:
        records = (ExecutionRecord.from_json(d) for d in _lines(self._path("executions", tier)))
        return {r.task_id: r for r in records}

    def cross(self) -> dict[str, CrossRecord]:
        """Every problem's cross matrix (none in a format 1 cache)."""
        records = (CrossRecord.from_json(d) for d in _lines(self.root / "cross.jsonl"))
        return {r.task_id: r for r in records}

    def add_cross(self, record: CrossRecord) -> None:
        if self.settings.cache_format < CACHE_FORMAT:  # the directory now holds format 2 files
            self.settings = replace(self.settings, cache_format=CACHE_FORMAT)
            meta = self.root / "settings.json"
            meta.write_text(json.dumps(self.settings.to_json(), indent=1), encoding="utf-8")
        self._write_line(self.root / "cross.jsonl", record.to_json())

    def _append(self, kind: str, tier: str, data: dict[str, Any]) -> None:
        self._write_line(self._path(kind, tier), data)

    @staticmethod
    def _write_line(path: Path, data: dict[str, Any]) -> None:
        # After a kill mid-write the file ends inside a line: start on a fresh one.
        torn = path.exists() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
        with path.open("a", encoding="utf-8") as handle:
            handle.write(("\n" if torn else "") + json.dumps(data) + "\n")
            handle.flush()

    def add_generation(self, record: GenerationRecord) -> None:
        self._append("generations", record.tier, record.to_json())

    def add_execution(self, record: ExecutionRecord) -> None:
        self._append("executions", record.tier, record.to_json())

"""The learned pre-router: skip a tier the task's own text says will fail (issue 18).

A linear classifier over a few features of the prompt predicts the probability that a tier's
answer fails; the policy's `skip_if_fails` threshold turns it into a decision (skip the tier,
start at the next). It is trained offline by `cascade calibrate --options prerouter` (scikit-learn
logistic regression, `codecascade.evaluation.prerouter`) and shipped as a JSON file of
coefficients (`router.logistic`: why plain numbers), which this module reads and applies.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

from pydantic import Field, ValidationError

from codecascade.core.errors import InvalidInput
from codecascade.core.task import Problem
from codecascade.router.logistic import LogisticModel

__all__ = ["FEATURES", "MODEL_VERSION", "PreRouterModel", "features"]

MODEL_VERSION = 1

FEATURES = (
    "log_prompt_chars",
    "prompt_lines",
    "examples",
    "log_docstring_words",
    "parameters",
    "annotated",
    "helper_functions",
    "imports",
)


def _entry(tree: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return node
    return None


def features(problem: Problem) -> tuple[float, ...]:
    """The classifier's inputs, in `FEATURES` order: sizes and shapes of the task's text."""
    prompt = problem.prompt
    tree: ast.Module | None = None
    for source in (prompt + "\n    pass\n", prompt):
        try:
            tree = ast.parse(source)
            break
        except SyntaxError:
            continue
    entry = _entry(tree, problem.entry_point) if tree is not None else None
    docstring = (ast.get_docstring(entry) or "") if entry is not None else prompt
    arguments = entry.args.args if entry is not None else []
    annotated = entry is not None and (
        entry.returns is not None or any(a.annotation is not None for a in arguments)
    )
    body = tree.body if tree is not None else []
    helpers = sum(
        isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n is not entry for n in body
    )
    imports = sum(isinstance(n, ast.Import | ast.ImportFrom) for n in body)
    return (
        math.log1p(len(prompt)),
        float(prompt.count("\n") + 1),
        float(prompt.count(">>>") + docstring.count("==>") + docstring.count("->")),
        math.log1p(len(docstring.split())),
        float(len(arguments)),
        float(annotated),
        float(helpers),
        float(imports),
    )


class PreRouterModel(LogisticModel):
    """P(the tier's answer fails), from the task's text (`features`)."""

    FEATURES = FEATURES
    VERSION = MODEL_VERSION

    tier: str = Field(min_length=1, description="The tier whose failure is predicted.")

    def failure_probability(self, problem: Problem) -> float:
        return self.probability(features(problem))

    @classmethod
    def load(cls, path: Path) -> PreRouterModel:
        try:
            return cls.model_validate_json(path.read_bytes())
        except OSError as exc:
            raise InvalidInput(f"cannot read the pre-router model {path}: {exc.strerror}") from exc
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'model'}: {e['msg']}" for e in exc.errors()
            )
            raise InvalidInput(f"pre-router model {path}: {problems}") from exc

"""Turns whatever a model wrote into assert statements worth running, and says why others went.

Parsing is by the AST, never by regexes alone: a model's text is split into statements (whole
blocks first, then line by line so one broken line does not cost the rest), and an `assert`
survives only if it calls the entry point, is valid Python, stays within size bounds, names only
what the prompt and safe builtins define, and touches nothing non-deterministic (randomness, time,
I/O, imports). Survivors are normalised with `ast.unparse` (which also drops assert messages) and
deduplicated, so two spellings of one test count once in the agreement score.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from codecascade.core.code import extract_code

__all__ = [
    "AssertBounds",
    "DroppedLine",
    "ParsedGeneration",
    "defined_names",
    "parse_asserts",
]

# Builtins a test may use: pure functions and types. Anything doing I/O or reflection is out.
SAFE_BUILTINS = frozenset(
    {
        "abs", "all", "any", "bin", "bool", "bytes", "chr", "dict", "divmod", "enumerate",
        "filter", "float", "frozenset", "hex", "int", "isinstance", "len", "list", "map", "max",
        "min", "oct", "ord", "pow", "range", "repr", "reversed", "round", "set", "slice",
        "sorted", "str", "sum", "tuple", "type", "zip", "True", "False", "None",
        "ValueError", "TypeError", "IndexError", "KeyError", "ZeroDivisionError", "Exception",
    }
)  # fmt: skip
# Names whose use makes a test non-deterministic or effectful, even when the prompt imports them.
BANNED_NAMES = frozenset(
    {
        "random", "time", "datetime", "os", "sys", "subprocess", "socket", "open", "input",
        "print", "eval", "exec", "compile", "__import__", "globals", "locals", "vars", "getattr",
        "setattr", "delattr", "breakpoint", "exit", "quit", "id", "hash", "uuid", "secrets",
        "threading", "multiprocessing", "asyncio", "shutil", "pathlib", "io", "builtins",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class AssertBounds:
    """Size limits for one kept assert; generous for real tests, fatal to runaway generations."""

    max_chars: int = 400
    max_nodes: int = 200
    max_int_digits: int = 30


@dataclass(frozen=True, slots=True)
class DroppedLine:
    """A candidate the parser did not keep, with the reason (for debugging prompts)."""

    text: str
    reason: str


@dataclass(frozen=True, slots=True)
class ParsedGeneration:
    """The asserts kept from one model output, in order, and what was dropped."""

    asserts: tuple[str, ...]
    dropped: tuple[DroppedLine, ...]


def defined_names(prompt: str) -> frozenset[str]:
    """Top-level names the prompt binds (imports, functions, classes, constants)."""
    try:
        tree = ast.parse(prompt + "\n    pass\n")
    except SyntaxError:
        try:
            tree = ast.parse(prompt)
        except SyntaxError:
            return frozenset()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return frozenset(names - BANNED_NAMES)


def _statements(code: str, entry_point: str) -> Iterator[tuple[str, ast.stmt | None]]:
    """(source, statement) pairs; statements that do not parse come back with None."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        yield from _statements_by_line(code, entry_point)
        return
    for node in _flatten(tree.body, entry_point):
        yield ast.get_source_segment(code, node) or ast.unparse(node), node


def _flatten(body: list[ast.stmt], entry_point: str) -> Iterator[ast.stmt]:
    """Statements, with test functions and `if __name__ == "__main__":` blocks opened up.

    Models often wrap their asserts in `def test_f():` or a main guard; the asserts inside are
    as good as top-level ones (each is checked for free names, so one that needs a local of the
    function is still dropped). A redefinition of the entry point itself is not opened.
    """
    for node in body:
        if isinstance(node, ast.FunctionDef) and node.name != entry_point and not node.args.args:
            yield from _flatten(node.body, entry_point)
        elif isinstance(node, ast.If) and "__name__" in ast.unparse(node.test):
            yield from _flatten(node.body, entry_point)
        else:
            yield node


def _statements_by_line(code: str, entry_point: str) -> Iterator[tuple[str, ast.stmt | None]]:
    """Recovers statements from text that does not parse as a whole (a cut-off last line...)."""
    pending: list[str] = []
    for line in code.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if pending and line.lstrip().startswith("assert "):
            # A new assert never continues an earlier statement: the pending text was broken.
            yield "\n".join(pending), None
            pending = []
        pending.append(line.strip() if not pending else line)
        chunk = "\n".join(pending)
        try:
            tree = ast.parse(chunk)
        except SyntaxError:
            if len(pending) >= 8 or not _may_continue(chunk):
                yield chunk, None
                pending = []
            continue
        for node in _flatten(tree.body, entry_point):
            yield ast.get_source_segment(chunk, node) or ast.unparse(node), node
        pending = []
    if pending:
        yield "\n".join(pending), None


def _may_continue(chunk: str) -> bool:
    """Whether more lines could complete the statement (open brackets or a trailing backslash)."""
    depth = sum(chunk.count(c) for c in "([{") - sum(chunk.count(c) for c in ")]}")
    return depth > 0 or chunk.rstrip().endswith("\\")


def _reason_to_drop(
    node: ast.stmt, entry_point: str, allowed: frozenset[str], bounds: AssertBounds
) -> str | None:
    if not isinstance(node, ast.Assert):
        return "not an assert statement"
    nodes = list(ast.walk(node.test))
    if len(nodes) > bounds.max_nodes:
        return f"too large ({len(nodes)} syntax nodes)"
    calls_entry = False
    bound_inside: set[str] = set()
    for child in nodes:
        if isinstance(child, ast.comprehension):
            bound_inside.update(n.id for n in ast.walk(child.target) if isinstance(n, ast.Name))
        elif isinstance(child, ast.Lambda):
            bound_inside.update(a.arg for a in child.args.args)
        elif isinstance(child, ast.NamedExpr):
            return "uses an assignment expression"
    for child in nodes:
        if isinstance(child, ast.Call) and isinstance(child.func, ast.Name):
            calls_entry = calls_entry or child.func.id == entry_point
        if isinstance(child, ast.Name):
            if child.id in BANNED_NAMES:
                return f"uses '{child.id}' (non-deterministic or effectful)"
            if child.id not in allowed and child.id not in bound_inside:
                return f"uses undefined name '{child.id}'"
        elif isinstance(child, ast.Attribute) and child.attr.startswith("__"):
            return f"uses dunder attribute '{child.attr}'"
        elif isinstance(child, ast.Constant) and isinstance(child.value, int):
            if len(str(abs(child.value))) > bounds.max_int_digits:
                return "contains an oversized integer literal"
        elif isinstance(child, ast.BinOp) and isinstance(child.op, ast.Pow):
            exponent = child.right
            if not (
                isinstance(exponent, ast.Constant)
                and isinstance(exponent.value, int | float)
                and abs(exponent.value) <= 64
            ):
                return "raises to a large or computed power"
    if not calls_entry:
        return f"does not call {entry_point}"
    if isinstance(node.test, ast.Constant):
        return "asserts a constant"
    return None


def _tolerant_floats(test: ast.expr) -> ast.expr:
    """`f(x) == 0.99` becomes `abs(f(x) - 0.99) <= 1e-06`: a float result is only ever close.

    Models write expected floats as decimals (4.99 % 1 is 0.9900000000000002, not 0.99), and an
    exact comparison would reject correct code; HumanEval's own tests compare floats this way.
    """
    if not (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Eq)
        and any(
            (isinstance(side, ast.Constant) and isinstance(side.value, float))
            or (
                isinstance(side, ast.UnaryOp)
                and isinstance(side.operand, ast.Constant)
                and isinstance(side.operand.value, float)
            )
            for side in (test.left, test.comparators[0])
        )
    ):
        return test
    difference = ast.BinOp(left=test.left, op=ast.Sub(), right=test.comparators[0])
    distance = ast.Call(func=ast.Name("abs", ast.Load()), args=[difference], keywords=[])
    return ast.Compare(left=distance, ops=[ast.LtE()], comparators=[ast.Constant(1e-06)])


def parse_asserts(
    text: str,
    *,
    entry_point: str,
    prompt_names: Iterable[str] = (),
    limit: int | None = None,
    bounds: AssertBounds | None = None,
) -> ParsedGeneration:
    """The first `limit` valid, distinct asserts in a model's text; never raises on junk."""
    bounds = bounds or AssertBounds()
    allowed = frozenset(prompt_names) | SAFE_BUILTINS | {entry_point}
    kept: list[str] = []
    seen: set[str] = set()
    dropped: list[DroppedLine] = []
    for source, node in _statements(extract_code(text), entry_point):
        snippet = source.strip()
        if node is None:
            if snippet.startswith("assert"):
                dropped.append(DroppedLine(snippet[:200], "not valid Python"))
            continue
        if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.ClassDef):
            dropped.append(DroppedLine(snippet[:200], "not an assert statement"))
            continue
        if not isinstance(node, ast.Assert):
            if "assert" in snippet or entry_point in snippet:
                dropped.append(DroppedLine(snippet[:200], "not an assert statement"))
            continue
        reason = _reason_to_drop(node, entry_point, allowed, bounds)
        normalised = ast.unparse(ast.Assert(test=_tolerant_floats(node.test), msg=None))
        if reason is None and len(normalised) > bounds.max_chars:
            reason = f"longer than {bounds.max_chars} characters"
        if reason is None and normalised in seen:
            reason = "duplicate"
        if reason is None and limit is not None and len(kept) >= limit:
            reason = f"beyond the first {limit} asserts"
        if reason is not None:
            dropped.append(DroppedLine(snippet[:200], reason))
            continue
        seen.add(normalised)
        kept.append(normalised)
    return ParsedGeneration(tuple(kept), tuple(dropped))

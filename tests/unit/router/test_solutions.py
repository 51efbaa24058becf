from __future__ import annotations

from codecascade.core.task import make_problem
from codecascade.router.policy import TierPolicy
from codecascade.router.solutions import assemble_solution, sampling_for, solution_prompt

PROMPT = 'from typing import List\n\n\ndef first(xs: List[int]) -> int:\n    """First."""\n'
PROBLEM = make_problem(PROMPT)


def test_chat_answer_with_the_whole_function_keeps_it_and_adds_missing_imports() -> None:
    prompt = solution_prompt(PROBLEM, instruct=True)
    answer = "Sure:\n```python\ndef first(xs: List[int]) -> int:\n    return xs[0]\n```"
    code = assemble_solution(PROBLEM, answer, prompt=prompt)
    assert code == "from typing import List\ndef first(xs: List[int]) -> int:\n    return xs[0]\n"


def test_imports_already_present_are_not_repeated() -> None:
    prompt = solution_prompt(PROBLEM, instruct=True)
    answer = "```python\nfrom typing import List\ndef first(xs):\n    return xs[0]\n```"
    code = assemble_solution(PROBLEM, answer, prompt=prompt)
    assert code.count("from typing import List") == 1


def test_body_only_answers_complete_the_stub() -> None:
    prompt = solution_prompt(PROBLEM, instruct=True)
    code = assemble_solution(PROBLEM, "```python\n    return xs[0]\n```", prompt=prompt)
    assert code.startswith(PROMPT) and code.endswith("return xs[0]\n")
    raw = solution_prompt(PROBLEM, instruct=False)
    assert assemble_solution(PROBLEM, "    return xs[0]\n", prompt=raw).startswith(PROMPT)


def test_sampling_is_greedy_for_one_solution_and_seeded() -> None:
    one = sampling_for(TierPolicy(tier="S", k=1, test_lines=2), seed=3)
    many = sampling_for(TierPolicy(tier="S", k=5, test_lines=2), seed=3)
    assert (one.n, one.temperature) == (1, 0.0)
    assert (many.n, many.temperature, many.top_p, many.seed) == (5, 0.8, 0.95, 3)

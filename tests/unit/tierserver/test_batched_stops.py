"""Stop strings in batched sampling: found across token boundaries and cut where they begin."""

from __future__ import annotations

from typing import cast

from llama_cpp._internals import LlamaSampler

from codecascade.tierserver.batched import _Sequence

_NO_SAMPLER = cast(LlamaSampler, None)  # push/result never touch the sampler


def _decode(pieces: list[bytes], stops: tuple[str, ...]) -> _Sequence:
    seq = _Sequence(_NO_SAMPLER, stops)
    for token, piece in enumerate(pieces):
        seq.push(token, piece)
        if seq.finish is not None:
            break
    return seq


def test_a_stop_split_across_pieces_ends_the_sample_before_it() -> None:
    seq = _decode([b"def f():", b"\n    return 1\n", b"\n", b"\nprint(f())"], ("\n\n\n",))
    sample = seq.result()
    assert sample.text == "def f():\n    return 1"
    assert sample.finish_reason == "stop" and sample.tokens == 4


def test_the_earliest_of_several_stops_wins() -> None:
    sample = _decode([b"a<|end|>b```c"], ("```", "<|end|>")).result()
    assert sample.text == "a" and sample.finish_reason == "stop"


def test_a_character_split_across_pieces_is_kept_whole() -> None:
    snowman = "☃".encode()
    sample = _decode([b"x = '", snowman[:1], snowman[1:], b"'"], ("STOP",)).result()
    assert sample.text == "x = '☃'" and sample.finish_reason == "length" and sample.tokens == 4


def test_no_stop_means_length() -> None:
    sample = _decode([b"abc", b"def"], ()).result()
    assert sample.text == "abcdef" and sample.finish_reason == "length"

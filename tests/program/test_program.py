"""The compiled program format: parsing, validation, round trip, tokenize twin."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import ProgramError
from harness.program import parse, quote, tokenize

GOOD = """nhprog 1
scenario demo
covers rfork await
buf wbuf 64
data hdr 0102ff
block main
1 rfork i:0x10 c:b2 >kid
3 await b:wbuf i:64
4 segattach i:0 s:shared a:0x10000000 i:4096 >seg
5 touch w:r a:seg+0x8
6 exec 's:$agent' c:b7 's:two words' n:
end
block b2
2 exits 's:it''s done'
end
block b7
7 probe w:args
end
"""


def test_parse_good_program() -> None:
    prog = parse(GOOD)
    assert prog.scenario == "demo"
    assert prog.covers == ["rfork", "await"]
    assert prog.buffers == {"wbuf": bytes(64), "hdr": b"\x01\x02\xff"}
    assert list(prog.blocks) == ["main", "b2", "b7"]
    rfork = prog.blocks["main"][0]
    assert (rfork.step, rfork.op, rfork.result) == (1, "rfork", "kid")
    assert rfork.args[0].int_value() == 0x10
    assert prog.blocks["b2"][0].args[0].text == "it's done"
    touch = prog.blocks["main"][3]
    assert touch.args[1].address_ref() == ("seg", 8)
    assert prog.blocks["main"][4].tokens == ["s:$agent", "c:b7", "s:two words", "n:"]


def test_round_trip_is_stable() -> None:
    prog = parse(GOOD)
    again = parse(prog.dumps())
    assert again.dumps() == prog.dumps()
    assert [s.tokens for s in again.blocks["main"]] == [s.tokens for s in prog.blocks["main"]]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty program"),
        ("nhprog 2\n", "expected 'nhprog 1'"),
        ("nhprog 1\nblock main\nend\n", "'scenario NAME' must come"),
        ("nhprog 1\nscenario x\nblock other\nend\n", "no 'block main'"),
        ("nhprog 1\nscenario x\nblock main\n1 frobnicate\nend\n", "unknown operation"),
        ("nhprog 1\nscenario x\nblock main\n1 sleep i:12x\nend\n", "bad integer"),
        ("nhprog 1\nscenario x\nblock main\n1 sleep 12\nend\n", "no known type prefix"),
        ("nhprog 1\nscenario x\nblock main\n1 sleep\nend\n", "sleep takes 1 arguments, got 0"),
        ("nhprog 1\nscenario x\nblock main\n1 nsec\n1 nsec\nend\n", "step 1 used twice"),
        ("nhprog 1\nscenario x\nblock main\n1 rfork i:16 c:nowhere\nend\n", "no block 'nowhere'"),
        ("nhprog 1\nscenario x\nblock main\n1 read i:0 b:nobuf i:1\nend\n", "no buffer 'nobuf'"),
        ("nhprog 1\nscenario x\nblock main\n1 close v:fd\nend\n", "variable 'fd' is never set"),
        ("nhprog 1\nscenario x\nblock main\n1 brk a:heap+4\nend\n", "unknown address base 'heap'"),
        ("nhprog 1\nscenario x\nblock main\n1 probe w:everything\nend\n", "probe needs one of"),
        ("nhprog 1\nscenario x\nblock main\n1 nsec\n", "missing 'end'"),
        ("nhprog 1\nscenario x\nblock main\nblock b\nend\n", "block inside block"),
        ("nhprog 1\nscenario x\ndata d zz\nblock main\nend\n", "data must be hex"),
        ("nhprog 1\nscenario x\nblock main\n1 notify h:maybe\nend\n", "unknown handler mode"),
    ],
)
def test_malformed_programs_name_line_and_reason(text: str, reason: str) -> None:
    with pytest.raises(ProgramError) as exc:
        parse(text, source="t.nhprog")
    assert reason in str(exc.value)
    assert str(exc.value).startswith("t.nhprog:")


def test_error_line_numbers_point_at_the_bad_line() -> None:
    with pytest.raises(ProgramError) as exc:
        parse("nhprog 1\nscenario x\n\n# comment\nblock main\n1 nsec\n2 bogus\nend\n")
    assert exc.value.line == 7


@pytest.mark.parametrize(
    ("line", "tokens"),
    [
        ("a b  c", ["a", "b", "c"]),
        ("'a b' c", ["a b", "c"]),
        ("'it''s'", ["it's"]),
        ("x'y z'w", ["xy zw"]),
        ("''", [""]),
        ("\t a\t", ["a"]),
    ],
)
def test_tokenize_matches_plan9_rules(line: str, tokens: list[str]) -> None:
    assert tokenize(line) == tokens


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=12), max_size=6))
def test_quote_then_tokenize_round_trips(words: list[str]) -> None:
    line = " ".join(quote(w) for w in words)
    assert tokenize(line) == words

"""The record rule for long arguments (schema.abbreviate_*, agent.c jarg/jargs), both sides."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harness.trace.schema import abbreviate_arg, abbreviate_args, abbreviated


def test_short_arguments_are_verbatim() -> None:
    assert abbreviate_arg("s:" + "a" * 198) == "s:" + "a" * 198  # 200 bytes: kept


def test_long_argument_keeps_64_bytes_and_its_length() -> None:
    tok = "s:" + "a" * 199  # 201 bytes
    assert abbreviate_arg(tok) == tok[:64] + "...(201 bytes)"


def test_cut_never_splits_a_utf8_sequence() -> None:
    tok = "s:" + "b" * 61 + "\u20ac" * 100  # the euro sign's 3 bytes straddle byte 64
    got = abbreviate_arg(tok)
    assert got == "s:" + "b" * 61 + f"...({len(tok.encode())} bytes)"


def test_long_lists_keep_32_entries_and_the_count() -> None:
    assert abbreviate_args(["s:"] * 64) == ["s:"] * 64
    assert abbreviate_args(["s:"] * 65) == ["s:"] * 32 + ["...(65 args)"]


def test_rule_is_idempotent_and_covers_exec_argv() -> None:
    once = abbreviated({"op": "exec", "args": ["s:x" * 100] * 100, "out": {"argv": ["y" * 300] * 3}})
    assert once["args"] == [("s:x" * 100)[:64] + "...(300 bytes)"] * 32 + ["...(100 args)"]
    assert once["out"]["argv"] == ["y" * 64 + "...(300 bytes)"] * 3
    twice = abbreviated({"op": "exec", "args": list(once["args"]), "out": dict(once["out"])})
    assert twice == once


@given(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("ab\udc80\udcff"), max_size=400),
       st.sampled_from(["", "s:", "c:"]))
def test_a_prefix_is_abbreviated_as_part_of_the_argument(text: str, prefix: str) -> None:
    """abbreviate_arg(TEXT, PREFIX) is the abbreviation of PREFIX + TEXT, by its fast paths too
    (what the model uses for a record's args without building a 16 MiB token)."""
    assert abbreviate_arg(text, prefix) == abbreviate_arg(prefix + text)
    long = "x" * 300 + text
    assert abbreviate_arg(long, prefix) == abbreviate_arg(prefix + long)


def test_the_agents_end_record_is_never_compared() -> None:
    """An END record (the agent's own time) left in a trace is a timing, not a difference."""
    from harness.trace.diff import diff_traces
    from harness.trace.schema import Header, Record, Trace, end_record, split_end

    recs = [Record("main", 0, 0, "start", "start", out={"pid": 1})]
    model = Trace(Header("model", "x", "amd64", "p"), recs)
    guest = Trace(Header("guest", "x", "amd64", "p"), [*recs, end_record(1234)])
    assert diff_traces(model, guest).identical
    assert split_end(guest.records) == (recs, 1234)

"""The scenario compiler (harness/scenario/compiler.py) on real scenarios.

Every test compiles YAML text (written to a temporary file, so errors carry a
real path) or a file of the corpus, and looks at the compiled program: the
typed argument tokens, the blocks, the buffers.  Malformed scenarios must be
rejected with the file, the line and the reason.
"""

from __future__ import annotations

import struct
import textwrap
from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.model.arch import get_arch
from harness.program import parse as parse_program
from harness.scenario.compiler import Scenario, compile_scenario
from harness.scenario.constants import ALL as CONSTANTS

CORPUS = Path(__file__).resolve().parents[2] / "testcases"


def compile_text(tmp_path: Path, text: str, arch: str = "amd64", name: str = "case.yaml") -> Scenario:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return compile_scenario(path, arch)


def reject(tmp_path: Path, text: str, name: str = "bad.yaml") -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        compile_text(tmp_path, text, name=name)
    err = info.value
    assert err.path == str(tmp_path / name)
    assert str(err).startswith(f"{tmp_path / name}:{err.line}: ")
    return err


def tokens(sc: Scenario, block: str = "main") -> list[list[str]]:
    return [[s.op, *s.tokens] + ([">" + s.result] if s.result else []) for s in sc.program.blocks[block]]


# -- argument kinds ---------------------------------------------------------


def test_flag_arguments_by_name_list_pipe_and_number(tmp_path: Path) -> None:
    sc = compile_text(
        tmp_path,
        """
        covers: [rfork]
        steps:
          - rfork: [RFPROC, RFFDG]
          - rfork: RFNAMEG|RFCENVG
          - rfork: 0x20
          - rfork: RFREND
        """,
    )
    want = [
        CONSTANTS["RFPROC"] | CONSTANTS["RFFDG"],
        CONSTANTS["RFNAMEG"] | CONSTANTS["RFCENVG"],
        0x20,
        CONSTANTS["RFREND"],
    ]
    assert [s.args[0].kind for s in sc.program.blocks["main"]] == ["i"] * 4
    assert [s.args[0].int_value() for s in sc.program.blocks["main"]] == want


def test_string_nil_buffer_address_variable_and_mode_arguments(tmp_path: Path) -> None:
    sc = compile_text(
        tmp_path,
        """
        covers: [errstr, notify, segattach, exits]
        buffers:
          buf: 64
        steps:
          - werrstr: two words
          - errstr: [buf+8, 32]
          - segattach: [SG_RONLY, shared, stack-0x2000, 4096]
            as: seg
          - segdetach: seg+0x10
          - semrelease: [$seg, 1]
          - notify: cont
          - open: ["$dir/f", [OREAD, OCEXEC]]
            as: fd
          - close: $fd
          - exits: null
        """,
    )
    assert tokens(sc) == [
        ["werrstr", "s:two words"],
        ["errstr", "b:buf+8", "i:32"],
        ["segattach", f"i:{CONSTANTS['SG_RONLY']}", "s:shared", "a:stack-0x2000", "i:4096", ">seg"],
        ["segdetach", "a:seg+0x10"],
        ["semrelease", "a:seg", "i:1"],
        ["notify", "h:cont"],
        ["open", "s:$dir/f", f"i:{CONSTANTS['OREAD'] | CONSTANTS['OCEXEC']}", ">fd"],
        ["close", "v:fd"],
        ["exits", "n:"],
    ]
    # the text is exactly what the agent will parse back
    again = parse_program(sc.program.dumps())
    assert [s.tokens for s in again.blocks["main"]] == [s.tokens for s in sc.program.blocks["main"]]


def test_bad_pointer_and_generated_string_values(tmp_path: Path) -> None:
    sc = compile_text(
        tmp_path,
        """
        covers: [exits, werrstr]
        steps:
          - werrstr: {msg: {repeat: ab, times: 3}}
          - exits: {msg: {addr: 1}}
        """,
    )
    assert tokens(sc) == [["werrstr", "s:ababab"], ["exits", "a:0x1"]]


def test_probe_and_touch_grammars(tmp_path: Path) -> None:
    sc = compile_text(
        tmp_path,
        """
        covers: [brk]
        buffers:
          b: {text: hi, size: 8}
        steps:
          - probe: segments
          - probe: [fds, 8]
          - probe: [buf, b, 3]
          - probe: [env, home]
          - touch: [w, end-8, 5]
          - touch: [r, 0x10000000]
        """,
    )
    assert tokens(sc) == [
        ["probe", "w:segments"],
        ["probe", "w:fds", "i:8"],
        ["probe", "w:buf", "b:b", "i:3"],
        ["probe", "w:env", "s:home"],
        ["touch", "w:w", "a:end-0x8", "i:5"],
        ["touch", "w:r", "a:0x10000000"],
    ]
    assert sc.program.buffers["b"] == b"hi" + bytes(6)


def test_buffer_forms(tmp_path: Path) -> None:
    sc = compile_text(
        tmp_path,
        """
        covers: [errstr]
        buffers:
          zero: 16
          text: {text: "α!"}
          hex: {hex: "00ff10"}
          rep: {repeat: xy, times: 3, size: 8}
        steps:
          - errstr: [zero, 16]
        """,
    )
    bufs = sc.program.buffers
    assert bufs == {"zero": bytes(16), "text": "α!".encode(), "hex": b"\x00\xff\x10", "rep": b"xyxyxy\0\0"}
    assert "buf zero 16" in sc.program.dumps()
    assert f"data text {'α!'.encode().hex()}" in sc.program.dumps()


# -- blocks -----------------------------------------------------------------


def test_child_block_of_the_example_scenario() -> None:
    sc = compile_scenario(CORPUS / "rfork" / "child-exits-await.yaml", "amd64")
    assert list(sc.program.blocks) == ["main", "b1"]
    rfork, await_ = sc.program.blocks["main"]
    assert rfork.op == "rfork" and rfork.result == "kid"
    assert rfork.args[1].token == "c:b1"
    assert [(s.step, s.op, s.tokens) for s in sc.program.blocks["b1"]] == [(2, "exits", ["s:childexit"])]
    assert (await_.step, await_.tokens) == (3, ["b:wmsg", "i:256"])
    assert sc.covers == ["rfork", "exits", "await"]
    # every step points back at its line in the YAML
    lines = (CORPUS / "rfork" / "child-exits-await.yaml").read_text().splitlines()
    for step, line in sc.source_lines.items():
        op = next(s.op for b in sc.program.blocks.values() for s in b if s.step == step)
        assert op in lines[line - 1]


def test_nested_blocks_and_exec_then_order(tmp_path: Path) -> None:
    sc = compile_text(
        tmp_path,
        """
        covers: [rfork, exec]
        steps:
          - rfork: [RFPROC]
            child:
              - rfork: RFPROC
                child:
                  - exits: grandchild
              - exec: ["$agent", pchk, "a b"]
                then:
                  - probe: args
          - exec: {path: "$agent", argv: null}
            then:
              - exits: null
        """,
    )
    blocks = sc.program.blocks
    assert list(blocks)[0] == "main"
    assert tokens(sc)[0] == ["rfork", f"i:{CONSTANTS['RFPROC']}", "c:b1"]
    assert tokens(sc, "b1")[0] == ["rfork", f"i:{CONSTANTS['RFPROC']}", "c:b2"]
    assert tokens(sc, "b2") == [["exits", "s:grandchild"]]
    # exec: PATH c:BLOCK ARGV...
    assert tokens(sc, "b1")[1] == ["exec", "s:$agent", "c:b4", "s:pchk", "s:a b"]
    assert tokens(sc, "b4") == [["probe", "w:args"]]
    assert tokens(sc)[1] == ["exec", "s:$agent", "c:b6", "n:"]
    assert "'s:a b'" in sc.program.dumps()


def test_expectations_are_recorded_per_step(tmp_path: Path) -> None:
    sc = compile_text(
        tmp_path,
        """
        covers: [await]
        buffers:
          w: 64
        steps:
          - sleep: 0
          - await: [w, 64]
            expect: {ret: -1, err: no living children, out.text: "*"}
        """,
    )
    (exp,) = sc.expects
    assert (exp.step, exp.line) == (2, 6)
    assert exp.for_run("amd64", "9front-2022.05") == {"ret": -1, "err": "no living children", "out.text": "*"}


def test_expect_overrides_per_arch_and_profile(tmp_path: Path) -> None:
    sc = compile_text(
        tmp_path,
        """
        covers: [brk]
        steps:
          - brk: 0x7f0000000000
            expect: {ret: -1, err: virtual memory allocation failed}
            expect[arm64]: {err: segments overlap}
            expect[9front-current]: {ret: "<0"}
        """,
    )
    (exp,) = sc.expects
    assert exp.for_run("arm64", "9front-current") == {"ret": "<0", "err": "segments overlap"}
    assert exp.for_run("amd64", "9front-2022.05")["err"] == "virtual memory allocation failed"


def test_value_form_for_one_argument_call(tmp_path: Path) -> None:
    sc = compile_text(
        tmp_path,
        """
        covers: [exits]
        steps:
          - exits: {addr: 1}
        """,
    )
    assert tokens(sc) == [["exits", "a:0x1"]]


def test_aout_entry_start_plus_offset(tmp_path: Path) -> None:
    got = _aout_scenario(tmp_path, "mips", "magic: native, text: 4096, entry: start+4096")
    assert struct.unpack(">8I", got)[5] == get_arch("mips").utzero + 32 + 4096


# -- a.out buffers ------------------------------------------------------------


def _aout_scenario(tmp_path: Path, arch: str, fields: str) -> bytes:
    sc = compile_text(
        tmp_path,
        f"""
        covers: [exec]
        buffers:
          hdr: {{aout: {{{fields}}}}}
        steps:
          - writefile: ["$dir/a.out", hdr, 0755]
        """,
        arch=arch,
    )
    return sc.program.buffers["hdr"]


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_aout_header_64bit_entry(tmp_path: Path, arch: str) -> None:
    a = get_arch(arch)
    magic = a.magics[0]
    got = _aout_scenario(tmp_path, arch, "magic: native, text: 4096, data: 0x2000, bss: 12, entry: start")
    entry = a.utzero + 40
    assert magic & 0x8000  # HDR_MAGIC: the 64-bit entry follows the Exec
    assert got == struct.pack(">8I", magic, 4096, 0x2000, 12, 0, entry, 0, 0) + struct.pack(">Q", entry)


def test_aout_header_32bit_mips_with_pad_and_offset_entry(tmp_path: Path) -> None:
    a = get_arch("mips")
    sc = compile_text(
        tmp_path,
        """
        covers: [exec]
        buffers:
          hdr: {aout: {magic: native, text: 0x7f800000, entry: start-4, syms: 5}, pad: 16}
        steps:
          - writefile: ["$dir/a.out", hdr]
        """,
        arch="mips",
    )
    want = struct.pack(">8I", a.magics[0], 0x7F800000, 0, 0, 5, a.utzero + 32 - 4, 0, 0) + bytes(16)
    assert sc.program.buffers["hdr"] == want


def test_aout_header_truncated_and_numeric_magic(tmp_path: Path) -> None:
    got = _aout_scenario(tmp_path, "amd64", "magic: 0x1234, text: 8, entry: 0x100, truncate: 31")
    assert got == struct.pack(">8I", 0x1234, 8, 0, 0, 0, 0x100, 0, 0)[:31]
    # the corpus' own truncated header: 36 bytes of a native amd64 header
    sc = compile_scenario(CORPUS / "exec" / "trunc-hdr36.yaml", "amd64")
    a = get_arch("amd64")
    full = struct.pack(">8I", a.magics[0], 4096, 0, 0, 0, a.utzero + 40, 0, 0) + struct.pack(">Q", a.utzero + 40)
    assert sc.program.buffers["hdr36"] == full[:36]


# -- malformed scenarios ----------------------------------------------------


def test_unknown_operation(tmp_path: Path) -> None:
    err = reject(
        tmp_path,
        """
        covers: [rfork]
        steps:
          - sleep: 1
          - frobnicate: 3
        """,
    )
    assert err.line == 4 and "unknown operation 'frobnicate'" in err.reason


def test_bad_flag_name(tmp_path: Path) -> None:
    err = reject(
        tmp_path,
        """
        covers: [rfork]
        steps:
          - rfork: [RFPROC, RFNOSUCH]
        """,
    )
    assert err.line == 3 and "RFNOSUCH" in err.reason


def test_undefined_buffer(tmp_path: Path) -> None:
    err = reject(
        tmp_path,
        """
        covers: [await]
        buffers:
          wmsg: 64
        steps:
          - await: [wbuf, 64]
        """,
    )
    assert err.line == 5 and "no buffer named 'wbuf'" in err.reason


def test_undefined_variable(tmp_path: Path) -> None:
    err = reject(
        tmp_path,
        """
        covers: [postnote]
        steps:
          - sleep: 0
          - postnote: [PNPROC, $kid, hello]
        """,
    )
    assert err.line == 4 and "$kid" in err.reason


def test_wrong_arity(tmp_path: Path) -> None:
    err = reject(
        tmp_path,
        """
        covers: [rendezvous]
        steps:
          - rendezvous: [1, 2, 3]
        """,
    )
    assert err.line == 3 and "takes 2 argument(s)" in err.reason
    err = reject(
        tmp_path,
        """
        covers: [segattach]
        steps:
          - segattach: [0, shared]
        """,
        name="short.yaml",
    )
    assert err.line == 3 and "missing argument 'va'" in err.reason


def test_bad_yaml(tmp_path: Path) -> None:
    err = reject(
        tmp_path,
        """
        covers: [rfork]
        steps:
          - rfork: [RFPROC
          - sleep: 1
        """,
    )
    assert err.line in (3, 4, 5) and "not valid YAML" in err.reason


def test_missing_covers(tmp_path: Path) -> None:
    err = reject(
        tmp_path,
        """
        description: nothing covered
        steps:
          - sleep: 1
        """,
    )
    assert err.line == 1 and "covers" in err.reason


def test_missing_steps(tmp_path: Path) -> None:
    err = reject(
        tmp_path,
        """
        covers: [sleep]
        description: no steps at all
        """,
    )
    assert err.line == 1 and "steps" in err.reason


def test_duplicate_keys(tmp_path: Path) -> None:
    err = reject(
        tmp_path,
        """
        covers: [sleep]
        steps:
          - sleep: 1
            expect: {ret: 0}
            expect: {ret: 1}
        """,
    )
    assert err.line == 5 and "duplicate key 'expect'" in err.reason


def test_two_operations_in_one_step(tmp_path: Path) -> None:
    err = reject(
        tmp_path,
        """
        covers: [sleep]
        steps:
          - sleep: 1
            alarm: 2
        """,
    )
    assert err.line == 3 and "exactly one operation" in err.reason


def test_unknown_expect_field_and_missing_then(tmp_path: Path) -> None:
    err = reject(
        tmp_path,
        """
        covers: [sleep]
        steps:
          - sleep: 1
            expect: {retval: 0}
        """,
    )
    assert "unknown field 'retval'" in err.reason
    err = reject(
        tmp_path,
        """
        covers: [exec]
        steps:
          - exec: ["$agent", x]
        """,
        name="nothen.yaml",
    )
    assert err.line == 3 and "then:" in err.reason


def test_bad_notify_mode_and_probe(tmp_path: Path) -> None:
    err = reject(
        tmp_path,
        """
        covers: [notify]
        steps:
          - notify: ignore
        """,
    )
    assert err.line == 3 and "handler must be one of" in err.reason
    err = reject(
        tmp_path,
        """
        covers: [brk]
        steps:
          - probe: registers
        """,
        name="probe.yaml",
    )
    assert err.line == 3 and "probe:" in err.reason


def test_unknown_address_base(tmp_path: Path) -> None:
    err = reject(
        tmp_path,
        """
        covers: [brk]
        steps:
          - brk: heap+0x10
        """,
    )
    assert err.line == 3 and "unknown address base 'heap'" in err.reason

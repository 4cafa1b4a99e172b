"""The model against the deterministic probe lines of real kernels
(/work/shared/observations/probes) and the seed's rules (sysproc.c lines)."""

from __future__ import annotations

import pytest

from harness.model.machine import Machine
from harness.model.profiles import CURRENT, SEED
from harness.program import parse
from harness.trace.schema import Record


def run(body: str, arch: str = "amd64", profile: str = SEED, extra: str = "") -> list[Record]:
    text = f"nhprog 1\nscenario t\nbuf b1 256\nbuf b2 256\nblock main\n{body}\nend\n{extra}"
    return Machine(arch, profile).run(parse(text))


def rec(recs: list[Record], step: int, proc: str = "main") -> Record:
    return next(r for r in recs if r.step == step and r.proc == proc and r.kind != "note")


# rfork flag checks: test_rules.py RFORK (one table).


def test_rfork_nowait_no_children() -> None:  # sysproc.c:220 RFNOWAIT: no parent
    recs = run("1 rfork i:0x50 c:k\n2 await b:b1 i:256", extra="block k\n9 exits s:x\nend\n")
    assert rec(recs, 2).err == "no living children"


@pytest.mark.parametrize(
    "n,expect_len",
    [(10, 10), (100, 100), (117, 114), (200, 114)],  # exits.lenN: msg "nhagent PID: " + 127 cap
)
def test_exits_truncation(n: int, expect_len: int) -> None:
    s = ("abcdefghij" * 20)[:n]
    recs = run("1 rfork i:0x10 c:k\n2 await b:b1 i:256", extra=f"block k\n9 exits s:{s}\nend\n")
    msg = rec(recs, 2).out["text"]
    body = msg.split(": ", 1)[1].rstrip("'")
    pid = rec(recs, 1).ret
    assert len(f"nhagent {pid}: ") + len(body) <= 127
    assert body == s[: min(n, 127 - len(f"nhagent {pid}: "))]


def test_await_small_buffers() -> None:  # await.buf1 / buf0 probes
    recs = run(
        "1 rfork i:0x10 c:k\n2 rfork i:0x10 c:k2\n3 await b:b1 i:1\n4 await b:b1 i:0\n5 await b:b1 i:9",
        extra="block k\n9 exits n:\nend\nblock k2\n8 exits n:\nend\n",
    )
    assert rec(recs, 3).ret == 0
    r4 = rec(recs, 4)
    assert r4.ret == -1 and r4.err == ""
    assert rec(recs, 5).err == "no living children"


def test_errstr_swap_and_nbuf() -> None:  # sysproc.c generrstr; errstr.nbuf5 / nbuf0 probes
    recs = run("1 werrstr s:abcdefgh\n2 errstr b:b1 i:5\n3 errstr b:b2 i:0\n4 probe w:errstr")
    assert rec(recs, 2).out["text"] == "abcd"
    assert rec(recs, 3).err == "bad arg in system call"
    assert rec(recs, 4).out["errstr"] == "bad arg in system call"


def test_open_error_formats() -> None:  # chan.c namelenerror, switch namec-error-suffix
    seed = rec(run("1 open s:/nonexistent_zz i:0"), 1).err
    cur = rec(run("1 open s:/nonexistent_zz i:0", profile=CURRENT), 1).err
    assert seed == "'/nonexistent_zz' file does not exist"
    assert cur == "file does not exist: '/nonexistent_zz'"


def test_rendezvous_exchange() -> None:
    recs = run(
        "1 rfork i:0x10 c:k\n2 rendezvous i:7 i:222",
        extra="block k\n9 rendezvous i:7 i:111\nend\n",
    )
    assert rec(recs, 2).ret == 111
    assert rec(recs, 9, "s1").ret == 222


def test_deadlock_is_hung() -> None:
    recs = run("1 rendezvous i:7 i:1")
    assert rec(recs, 1).out == {"hung": "deadlock"}


def test_sem_rules() -> None:  # sysproc.c syssemrelease/semacquire
    recs = run(
        "1 semrelease b:b1 i:3\n2 semacquire b:b1 i:1\n3 semrelease b:b1 i:-1\n"
        "4 touch w:w b:b2 i:-2\n5 semacquire b:b2 i:0\n6 tsemacquire b:b1+8 i:200"
    )
    assert rec(recs, 1).ret == 3
    assert rec(recs, 2).ret == 1
    assert rec(recs, 3).err == "bad arg in system call"
    assert rec(recs, 5).err == "bad arg in system call"
    assert rec(recs, 6).ret == 0


def test_segattach_rules() -> None:  # segment.c segattach; segattach.* probes (amd64)
    recs = run(
        "1 segattach i:0 s:shared i:0 i:0x1000\n2 segattach i:0 s:shared i:0x30000000 i:0x3000\n"
        "3 segattach i:0 s:shared i:0x30001000 i:0x1000\n4 segattach i:0 s:bogus i:0x50000000 i:1\n"
        "5 segattach i:0 s:shared i:0x50000000 i:0\n6 segattach i:0 s:shared i:0x7ffffffff000 i:1\n"
        "7 segdetach a:stack\n8 probe w:segments"
    )
    stack_base = 0x7FFFFFFFF000 - 16 * 1024 * 1024
    assert rec(recs, 1).ret == stack_base - 0x1000
    assert rec(recs, 2).ret == 0x30000000
    assert rec(recs, 3).err == "segments overlap"
    assert rec(recs, 4).err == "bad arg in system call"
    assert rec(recs, 5).err == "bad arg in system call"
    assert rec(recs, 6).err == "bad arg in system call"
    assert rec(recs, 7).err == "bad arg in system call"
    rows = rec(recs, 8).out["segments"]
    assert rows[-1] == ["Shared", "", 0x30000000, 0x30003000, 1]


def test_segbrk_refuses() -> None:  # sysproc.c syssegbrk
    recs = run("1 segbrk a:text i:0\n2 segbrk a:data i:0\n3 segbrk a:stack i:0\n4 segbrk a:bss i:0")
    for s in (1, 2, 3):
        assert rec(recs, s).err == "bad arg in system call"
    assert rec(recs, 4).ret == rec(run("1 probe w:segments"), 1).out["segments"][3][2]


def test_rfmem_shared_bss_shrink_refused() -> None:  # segment.c ibrk: Einuse
    recs = run("1 rfork i:0x30 c:k\n2 sleep i:100\n3 brk a:bss", extra="block k\n9 sleep i:1000\nend\n")
    assert rec(recs, 3).err == "device or object already in use"


def test_cow_vs_rfmem() -> None:
    recs = run(
        "1 rfork i:0x10 c:k\n2 rfork i:0x30 c:k2\n3 sleep i:10\n4 touch w:r b:b1",
        extra="block k\n9 touch w:w b:b1 i:5\nend\nblock k2\n8 touch w:w b:b1 i:7\nend\n",
    )
    assert rec(recs, 4).out["value"] == 7


def test_ronly_write_kills() -> None:
    recs = run(
        "1 rfork i:0x10 c:k\n2 await b:b1 i:256",
        extra="block k\n9 segattach i:0x20 s:shared i:0x30000000 i:0x1000\n10 touch w:w a:0x30000000 i:1\nend\n",
    )
    assert rec(recs, 2).out["text"].endswith("sys: trap: fault write addr=0x30000000 pc=PC'")


def test_noted_outside_handler_suicide() -> None:
    recs = run("1 rfork i:0x10 c:k\n2 await b:b1 i:256", extra="block k\n9 noted i:0\nend\n")
    assert rec(recs, 2).out["text"].endswith(": Suicide'")


def test_alarm_note_interrupts_sleep() -> None:
    recs = run("1 notify h:cont\n2 alarm i:100\n3 sleep i:1000")
    notes = [r for r in recs if r.kind == "note"]
    assert notes[0].out == {"note": "alarm"}
    assert rec(recs, 3).err == "interrupted"


def test_exec_agent_keeps_attached_segments() -> None:
    recs = run(
        "1 segattach i:0 s:shared i:0 i:0x1000\n2 exec s:$agent c:after s:agent s:x1",
        extra="block after\n9 probe w:segments\n10 probe w:args\nend\n",
    )
    names = [row[0] for row in rec(recs, 9).out["segments"]]
    assert names == ["Stack", "Text", "Data", "Bss", "Shared"]
    assert rec(recs, 10).out["args"] == ["agent", "x1"]


def test_long_arguments_are_abbreviated_in_records() -> None:
    # the schema's rule (abbreviate_args): both the call's args and exec's out.argv
    long, many = "x" * 300, " ".join(f"s:a{i}" for i in range(70))
    recs = run(f"1 exec s:$agent c:after s:{long} {many}", extra="block after\n9 probe w:args\nend\n")
    r = rec(recs, 1)
    assert r.args[:3] == ["s:$agent", "c:after", "s:" + "x" * 62 + "...(302 bytes)"]
    assert r.args[-1] == "...(73 args)" and len(r.args) == 33
    assert r.out["argv"][0] == "x" * 64 + "...(300 bytes)"
    assert r.out["argv"][-1] == "...(71 args)" and len(r.out["argv"]) == 33
    assert len(rec(recs, 9).out["args"]) == 71  # only records are abbreviated, not the process


def test_exec_bad_header() -> None:
    recs = run("1 writefile s:/tmp/nh/bad b:b1\n2 exec s:/tmp/nh/bad c:main s:bad")
    assert rec(recs, 2).err == "exec header invalid"


def test_deterministic() -> None:
    body = "1 rfork i:0x10 c:k\n2 await b:b1 i:256\n3 probe w:segments"
    extra = "block k\n9 sleep i:5\nend\n"
    assert run(body, extra=extra) == run(body, extra=extra)


# --- namec: the error names the path up to the element that failed ----------------


@pytest.mark.parametrize(
    ("path", "shown", "err"),
    [
        # /tmp is a mount point: nh and what follows are one walk batch, a
        # name missing after nh is walk's own "does not exist" (chan.c:1065)
        ("/tmp/nh/missing", "/tmp/nh/missing", "does not exist"),
        ("/tmp/nh/missing_dir/prog", "/tmp/nh/missing_dir", "does not exist"),  # walk: nerror = nhave+wq->nqid+1
        ("/nope/a/b/c", "/nope", "file does not exist"),  # the first name: the server's error (chan.c:1027)
        ("/tmp/nh/f/x", "/tmp/nh/f", "not a directory"),  # walk through a file: Enotdir at the file
        ("/tmp/nh/../nh/missing_dir/y", "/tmp/nh/../nh/missing_dir", "does not exist"),
    ],
)
def test_namec_names_the_failing_element(path: str, shown: str, err: str) -> None:  # chan.c walk/namec
    r = rec(run(f"1 writefile s:/tmp/nh/f b:b1\n2 open s:{path} i:0"), 2)
    assert (r.ret, r.err) == (-1, f"'{shown}' {err}")


def test_namec_long_name_is_a_suffix() -> None:  # chan.c namelenerror: "..." and a slash-led suffix
    d = "/tmp/nh/" + "abcdefghij/" * 12
    err = rec(run(f"1 writefile s:{d}f b:b1\n2 open s:{d}x i:0"), 2).err
    assert err is not None and err.startswith("'.../") and err.endswith("/x' does not exist")
    assert err == "'..." + "/abcdefghij" * 6 + "/x' does not exist"  # 68 bytes: the last short suffix


def test_create_in_a_missing_directory_names_it() -> None:  # namec Acreate walks all but the last
    r = rec(run("1 create s:/tmp/nh/nodir/sub/f i:1 i:0644"), 1)
    assert r.err == "'/tmp/nh/nodir' does not exist"  # a later name of its batch (chan.c:1065)


# --- notes ------------------------------------------------------------------------------


def test_postnote_group_skips_the_writer() -> None:  # devproc.c postnotepg: p == up is skipped
    recs = run(
        "1 notify h:cont\n2 rfork i:0x14 c:k\n3 sleep i:50\n4 postnote i:2 v:pid s:grp\n5 await b:b1 i:256",
        extra="block k\n9 notify h:exit\n10 sleep i:10000\nend\n",
    )
    assert not [r for r in recs if r.kind == "note" and r.proc == "main"]
    assert rec(recs, 5).out["text"].endswith(": grp'")


def test_note_to_self_does_not_interrupt_the_next_sleep() -> None:  # notify() clears notepending
    recs = run("1 notify h:cont\n2 postnote i:1 v:pid s:me\n3 sleep i:10")
    assert [r.out for r in recs if r.kind == "note"] == [{"note": "me"}]
    assert (rec(recs, 3).ret, rec(recs, 3).err) == (0, None)


# --- #c/user: auth.c userwrite --------------------------------------------------------------


def test_becoming_none() -> None:
    text = (
        "nhprog 1\nscenario t\ndata other 676c656e6461\ndata none 6e6f6e65\nbuf rb 16\nblock main\n"
        "1 sysr1\n2 open s:#c/user i:2 >u\n3 write v:u b:other i:6\n4 write v:u b:none i:4\n"
        "5 seek v:u i:0 i:0\n6 read v:u b:rb i:16\n7 sysr1\nend\n"
    )
    recs = Machine("amd64", SEED).run(parse(text))
    assert rec(recs, 1).ret == 0  # the agent runs as the host owner (eve)
    assert rec(recs, 3).err == "permission denied"
    assert rec(recs, 4).ret == 4
    assert bytes.fromhex(rec(recs, 6).out["hex"]) == b"none"
    assert rec(recs, 7).err == "permission denied"  # sysproc.c sysr1: !iseve()


# --- a foreign a.out: how far the model follows it --------------------------------------------


def _aout_amd64(text: int, bss: int, code: bytes, pad: int) -> str:
    import struct

    hdr = struct.pack(">8I", 0x8A97, text, 0, bss, 0, 0x200028, 0, 0) + struct.pack(">Q", 0x200028)
    return (hdr + code + bytes(pad)).hex()


def _foreign(hexdata: str, arch: str = "amd64", profile: str = SEED) -> str:
    text = (
        f"nhprog 1\nscenario t\ndata img {hexdata}\nbuf w 256\nblock main\n"
        "1 writefile s:/tmp/nh/img b:img i:0755\n2 rfork i:0x14 c:k\n3 await b:w i:256\nend\n"
        "block k\n9 exec s:/tmp/nh/img c:main s:img\nend\n"
    )
    recs = Machine(arch, profile).run(parse(text))
    assert not [r for r in recs if r.step == 9], "nobody prints a record for a foreign image"
    return str(rec(recs, 3).out["text"])


def test_foreign_zero_text_slides_to_the_text_top() -> None:  # fault.c fault(): fetch outside text
    msg = _foreign(_aout_amd64(4056, 0x1000, b"", 4056))
    assert msg.endswith("'img 103: sys: trap: fault read addr=0x400000 pc=PC'")


def test_foreign_short_text_dies_in_demand_load() -> None:  # fault.c pio: Eshort -> faulterror
    assert _foreign(_aout_amd64(0x10000000, 0, b"", 0)).endswith(": i/o error in demand load'")


def test_foreign_real_code_exits_cleanly() -> None:  # unknowable code: the documented convention
    assert _foreign(_aout_amd64(4056, 0, b"\xc3", 4055)).endswith(" ''")


def test_foreign_zero_word_on_arm64_is_undefined() -> None:  # arm64/trap.c traps[0]
    import struct

    hdr = struct.pack(">8I", 0x8C47, 4056, 0, 0, 0, 0x10028, 0, 0) + struct.pack(">Q", 0x10028)
    msg = _foreign((hdr + bytes(4056)).hex(), "arm64", CURRENT)
    assert msg.endswith(": sys: trap: unknown pc=PC'")


def test_rfork_child_runs_first() -> None:  # sysproc.c:240-241 ready(p); sched();
    # on one CPU the child runs until it blocks before the parent returns from
    # rfork, so its notify is in place when the parent's note arrives
    recs = run(
        "1 rfork i:0x30 c:k >kid\n4 postnote i:1 v:kid s:goodbye\n5 await b:b1 i:256",
        extra="block k\n2 notify h:exit\n3 sleep i:10000\nend\n",
    )
    kid = [(r.kind, r.op, r.step) for r in recs if r.proc == "s1"]
    assert kid == [("start", "start", 0), ("call", "notify", 2), ("note", "note", 3)]
    order = [(r.proc, r.op) for r in recs]
    assert order.index(("s1", "notify")) < order.index(("main", "rfork"))



def test_raw_bytes_of_an_await_message_are_nondeterministic() -> None:
    recs = run(
        "1 rfork i:0x30 c:k\n2 await b:b1 i:10\n3 probe w:buf b:b1 i:11\n4 writefile s:/tmp/nh/f b:b2"
        "\n5 open s:/tmp/nh/f i:0 >fd\n6 read v:fd b:b1 i:4\n7 probe w:buf b:b1 i:11",
        extra="block k\n9 exits s:x\nend\n",
    )
    assert rec(recs, 3).nondet == ["out.hex[0:18]"]  # 9 message bytes; the NUL and the rest are known
    assert rec(recs, 3).out["hex"][18:] == "0000"
    assert rec(recs, 7).nondet == ["out.hex[8:18]"]  # a read over the first 4 bytes made them known again


def test_agent_without_its_data_dies_writing_the_record() -> None:
    # segdetach of Data is allowed (sysproc.c: only the stack is refused), but
    # the agent's record writer lives on Data and Bss
    recs = run("1 rfork i:0x30 c:k\n3 await b:b1 i:256", extra="block k\n2 segdetach a:data\n4 nsec\nend\n")
    assert [r.op for r in recs if r.proc == "s1"] == ["start"]
    w = rec(recs, 3)
    assert "sys: trap: fault read addr=" in w.out["text"] and "out.text" in w.nondet


@pytest.mark.parametrize(("server", "err"), [("perm", "permission denied: '/tmp/nh/noexec'"),
                                             ("dossrv", "exec header invalid")])
def test_exec_permission_is_the_scratch_servers(server: str, err: str) -> None:
    # open(OEXEC) is decided by the file server: a permission-bit server refuses
    # a 0644 file; the guest's FAT scratch disk (dossrv) opens it, and the
    # kernel then rejects its header
    text = "nhprog 1\nscenario t\nbuf b1 16\nblock main\n1 writefile s:/tmp/nh/noexec b:b1 i:420\n" \
           "2 exec s:/tmp/nh/noexec c:main s:x\nend\n"
    recs = Machine("amd64", CURRENT, scratch_server=server).run(parse(text))
    assert rec(recs, 2).err == err
    with pytest.raises(ValueError):
        Machine("amd64", scratch_server="fat32").run(parse(text))


def test_old_wait_fills_an_owaitmsg() -> None:  # sysproc.c:695-718 sys_wait, devcons.c readnum
    recs = run("1 rfork i:0x30 c:k\n2 _wait b:b1\n3 probe w:buf b:b1 i:113\n4 _wait n:",
               extra="block k\n9 exits s:" + "x" * 80 + "\nend\n")
    pid = rec(recs, 1).ret
    assert rec(recs, 2).ret == pid
    raw = bytes.fromhex(rec(recs, 3).out["hex"])
    assert raw[:12] == f"{pid:>11} ".encode() and raw[12:48] == b"          0 " * 3
    msg = f"nhagent {pid}: ".encode() + b"x" * 80
    assert raw[48:111] == msg[:63] and raw[111:113] == b"\0\0"  # strncpy's cut, then untouched zeros
    assert rec(recs, 2).out == {"msg": msg[:63].decode()}
    assert "out.msg" in rec(recs, 2).nondet  # where the cut falls depends on the real pid's width
    assert rec(recs, 3).nondet == ["out.hex[0:222]"]  # pid, times and the message are the real kernel's
    assert (rec(recs, 4).ret, rec(recs, 4).err) == (-1, "no living children")


def test_old_wait_odd_pointer_on_arm64() -> None:  # sysproc.c:704 evenaddr
    # the "sys: odd address" note it posts kills a process without a handler
    # on the way out of the call, before the agent could write a record
    text = "1 rfork i:0x30 c:k\n2 _wait b:b1+1\n3 nsec"
    recs = run(text, arch="arm64", profile=CURRENT, extra="block k\n9 exits n:\nend\n")
    assert [r.step for r in recs if r.proc == "main"] == [0, 1]
    recs = run("0 notify h:cont\n" + text, arch="arm64", profile=CURRENT, extra="block k\n9 exits n:\nend\n")
    assert rec(recs, 2).err == "bad arg in system call" and rec(recs, 3).op == "nsec"
    assert [r.out["note"] for r in recs if r.kind == "note"] == ["sys: odd address pc=PC"]
    assert rec(run(text, extra="block k\n9 exits n:\nend\n"), 2).ret > 0  # amd64 checks no alignment

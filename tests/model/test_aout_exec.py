"""#! lines, the new argv, stack accounting and /proc/N/args, against the probes.

The expected argv values are the probes' own output lines (quoted from
/work/shared/observations/probes/amd64-seed.txt for the seed and
arm64-head.txt for the current kernel).  The script files are reconstructed
from those outputs: /bin/pargv prints its argv; the caller passed
[NAME, 'u1', 'u 2'] from /bin/pdata.
"""

from __future__ import annotations

import posixpath
import re

import pytest
from aoututil import header

from harness.model.aout import (
    ExecPlan,
    build_argv,
    parse_shebang,
    path_elem,
    plan_exec,
    stack_plan,
    tokenize,
    truncate_args,
)
from harness.model.arch import get_arch
from harness.model.errors import Ebadarg, Enovmem, KernelError
from harness.model.profiles import CURRENT, SEED, Profile, get_profile

SEEDP = get_profile(SEED)
CURP = get_profile(CURRENT)
A64 = get_arch("amd64")

L40 = "L" * 26  # "#!/bin/pargv " + 26 + "\n" = 40 bytes
SCRIPTS = {
    "s_basic": "#!/bin/pargv\n",
    "s_args": "#!/bin/pargv a b c\n",
    "s_quote": "#!/bin/pargv 'a b' c''d\n",
    "s_dquote": '#!/bin/pargv "x y"\n',
    "s_crlf": "#!/bin/pargv x\r\n",
    "s_tab": "#!/bin/pargv\tx\n",
    "s_len40": f"#!/bin/pargv {L40}\n",
    "s_len41": f"#!/bin/pargv {L40}L\n",
    "s_len256": "#!/bin/pargv " + "L" * 242 + "\n",
    "s_len257": "#!/bin/pargv " + "L" * 243 + "\n",
    "s_31tok": "#!/bin/pargv " + " ".join(f"a{i}" for i in range(1, 31)) + "\n",
    "s_32tok": "#!/bin/pargv " + " ".join(f"a{i}" for i in range(1, 32)) + "\n",
    "s_40tok": "#!/bin/pargv " + " ".join(f"a{i}" for i in range(1, 40)) + "\n",
    "s_nonl": "#!/bin/pargv",
    "s_empty": "#!\n",
    "s_spaces": "#!   \t \n",
    "s_nested": "#!/bin/pdata/s_basic\n",
    "s_missing": "#!/bin/nonexistent_zz\n",
    "s_badinterp": "#!/bin/pdata/textfile\n",
    "s_dotdot": "#!/bin/pdata/../pargv dd\n",
    "s_pchkargs": "#!/bin/pchk args\n",
}
for name in ("s_len40", "s_len41", "s_len256", "s_len257"):
    assert len(SCRIPTS[name]) == int(name[5:]), name

# Probe output lines, `exec.script.NAME: out=...` (argc=... part or EXECFAIL).
SEED_OUT = {
    "s_basic": "argc=4 [0]=s_basic [1]=/bin/pdata/s_basic [2]=u1 [3]='u 2'",
    "s_args": "argc=7 [0]=s_args [1]=a [2]=b [3]=c [4]=/bin/pdata/s_args [5]=u1 [6]='u 2'",
    "s_quote": "argc=7 [0]=s_quote [1]='''a' [2]='b''' [3]='c''''d' [4]=/bin/pdata/s_quote [5]=u1 [6]='u 2'",
    "s_dquote": "argc=6 [0]=s_dquote [1]=\"x [2]=y\" [3]=/bin/pdata/s_dquote [4]=u1 [5]='u 2'",
    "s_crlf": "argc=5 [0]=s_crlf [1]='x\\r' [2]=/bin/pdata/s_crlf [3]=u1 [4]='u 2'",
    "s_tab": "argc=5 [0]=s_tab [1]=x [2]=/bin/pdata/s_tab [3]=u1 [4]='u 2'",
    "s_len40": f"argc=5 [0]=s_len40 [1]={L40} [2]=/bin/pdata/s_len40 [3]=u1 [4]='u 2'",
    "s_len41": "EXECFAIL exec header invalid",
    "s_len256": "EXECFAIL exec header invalid",
    "s_len257": "EXECFAIL exec header invalid",
    "s_31tok": "EXECFAIL exec header invalid",
    "s_32tok": "EXECFAIL exec header invalid",
    "s_40tok": "EXECFAIL exec header invalid",
    "s_nonl": "EXECFAIL exec header invalid",
    "s_empty": "EXECFAIL exec header invalid",
    "s_spaces": "EXECFAIL exec header invalid",
    "s_nested": "EXECFAIL exec header invalid",
    "s_badinterp": "EXECFAIL exec header invalid",
    "s_dotdot": "argc=5 [0]=s_dotdot [1]=dd [2]=/bin/pdata/s_dotdot [3]=u1 [4]='u 2'",
}
CUR_OUT = {
    **SEED_OUT,
    "s_quote": "argc=6 [0]=s_quote [1]='a b' [2]=cd [3]=/bin/pdata/s_quote [4]=u1 [5]='u 2'",
    "s_crlf": "argc=5 [0]=s_crlf [1]=x [2]=/bin/pdata/s_crlf [3]=u1 [4]='u 2'",
    "s_len41": "argc=5 [0]=s_len41 [1]=" + "L" * 27 + " [2]=/bin/pdata/s_len41 [3]=u1 [4]='u 2'",
    "s_len256": "argc=5 [0]=s_len256 [1]=" + "L" * 242 + " [2]=/bin/pdata/s_len256 [3]=u1 [4]='u 2'",
    "s_31tok": "argc=34 [0]=s_31tok " + " ".join(f"[{i}]=a{i}" for i in range(1, 31))
    + " [31]=/bin/pdata/s_31tok [32]=u1 [33]='u 2'",
    # exec(2) at 027f579f4: up to 32 arguments (not observed: the kernel's
    # code overruns progarg[] there, the model keeps the man page's contract)
    "s_32tok": "argc=35 [0]=s_32tok " + " ".join(f"[{i}]=a{i}" for i in range(1, 32))
    + " [32]=/bin/pdata/s_32tok [33]=u1 [34]='u 2'",
    "s_40tok": "argc=35 [0]=s_40tok " + " ".join(f"[{i}]=a{i}" for i in range(1, 32))
    + " [32]=/bin/pdata/s_40tok [33]=u1 [34]='u 2'",
}


def _unrc(tok: str) -> str:
    """Undo the probe's rc-style quoting and its \\r escape."""
    if tok.startswith("'") and tok.endswith("'") and len(tok) >= 2:
        tok = tok[1:-1].replace("''", "'")
    return tok.replace("\\r", "\r")


def parse_out(out: str) -> list[str] | str:
    if out.startswith("EXECFAIL "):
        return out[len("EXECFAIL "):]
    m = re.match(r"argc=(\d+) (.*)$", out)
    assert m
    parts = re.split(r"(?:^| )\[\d+\]=", " " + m.group(2))[1:]
    assert len(parts) == int(m.group(1))
    return [_unrc(p) for p in parts]


PARGV = header("S", text=0x100, utzero=A64.utzero) + bytes(0x100)


class Files:
    """A tiny file tree standing in for namec + read (cwd /bin/pdata)."""

    def __init__(self) -> None:
        self.files = {"/bin/pargv": PARGV, "/bin/pchk": PARGV, "/bin/pdata/textfile": b"just some text\n" * 4}
        self.files.update({f"/bin/pdata/{k}": v.encode() for k, v in SCRIPTS.items()})
        self.opened: list[str] = []

    def __call__(self, path: str) -> bytes:
        self.opened.append(path)
        full = posixpath.normpath(posixpath.join("/bin/pdata", path))
        if full not in self.files:
            raise KernelError(f"'{path}' file does not exist")
        return self.files[full]


def run(name: str, profile: Profile, argv: list[str] | None = None, path: str | None = None) -> ExecPlan:
    path = path or f"/bin/pdata/{name}"
    return plan_exec(path, argv or [name, "u1", "u 2"], A64, profile, Files())


@pytest.mark.parametrize("profile,expected", [(SEEDP, SEED_OUT), (CURP, CUR_OUT)], ids=["seed", "current"])
@pytest.mark.parametrize("name", sorted(SEED_OUT))
def test_script_probes(name: str, profile: Profile, expected: dict[str, str]) -> None:
    want = parse_out(expected[name])
    if isinstance(want, str):
        with pytest.raises(KernelError) as e:
            run(name, profile)
        assert e.value.errstr == want
    else:
        plan = run(name, profile)
        assert list(plan.argv) == want
        assert plan.script and plan.text == name


@pytest.mark.parametrize("profile", [SEEDP, CURP], ids=["seed", "current"])
def test_missing_interpreter_is_namec_error(profile: Profile) -> None:
    files = Files()
    with pytest.raises(KernelError) as e:
        plan_exec("/bin/pdata/s_missing", ["s_missing"], A64, profile, files)
    assert e.value.errstr == "'/bin/nonexistent_zz' file does not exist"
    assert files.opened == ["/bin/pdata/s_missing", "/bin/nonexistent_zz"]


def test_argv_variants_from_probes() -> None:
    # exec.script.argv0only / relative / dotslash (same on both kernels).
    for p in (SEEDP, CURP):
        assert list(run("s_args", p, ["s_args"]).argv) == ["s_args", "a", "b", "c", "/bin/pdata/s_args"]
        assert list(run("s_basic", p, ["x", "r1"], "s_basic").argv) == ["s_basic", "s_basic", "r1"]
        assert list(run("s_args", p, ["x", "r1"], "./s_args").argv) == ["s_args", "a", "b", "c", "./s_args", "r1"]


def test_binary_exec_and_argv0nil() -> None:
    plan = plan_exec("/bin/pargv", ["/bin/pargv", "x1", "x2"], A64, SEEDP, Files())  # exec.ok
    assert plan.argv == ("/bin/pargv", "x1", "x2") and not plan.script and plan.text == "pargv"
    assert plan.binary == "/bin/pargv" and plan.image.entry == A64.utzero + 40
    with pytest.raises(KernelError) as e:  # exec.argv0nil
        plan_exec("/bin/pargv", [], A64, SEEDP, Files())
    assert e.value.errstr == Ebadarg


def test_build_argv_and_elem() -> None:
    assert build_argv(["/bin/rc", "-x"], "/a/b/s", ["s", "1"]) == ["s", "-x", "/a/b/s", "1"]
    assert build_argv(["/bin/rc"], "s", ["s"], elem="e") == ["e", "s"]
    assert path_elem("/bin/pdata/s_basic") == "s_basic" and path_elem("./x") == "x" and path_elem("x/") == "x"


def test_shebang_rules_directly() -> None:
    assert parse_shebang(b"#! /bin/rc  -e\t-x \n...", SEEDP) == ["/bin/rc", "-e", "-x"]
    assert parse_shebang(b"#!/bin/rc a\0b c\n", SEEDP) == ["/bin/rc", "a"]  # a NUL ends the line
    assert parse_shebang(b"#!/bin/rc a\0b c\n", CURP) == ["/bin/rc", "a"]
    assert tokenize(b"'it''s' 'x y'z ''", 10) == [b"it's", b"x yz", b""]
    assert tokenize(b"'open quote", 10) == [b"open quote"]
    assert tokenize(b"a b c", 2) == [b"a", b"b"]
    assert parse_shebang(b"#!/bin/\xff\n", CURP) == ["/bin/\udcff"]  # raw bytes survive
    for bad in (b"", b"#", b"#!", b"#!\n", b"#! \r\n", b"!#/bin/rc\n"):
        for p in (SEEDP, CURP):
            if bad == b"#! \r\n" and p is SEEDP:
                assert parse_shebang(bad, p) == ["\r"]  # the seed splits on blanks and tabs only
                continue
            with pytest.raises(KernelError):
                parse_shebang(bad, p)


# --- stack accounting: exec.stack.* on amd64 (and the same kernel rules on arm64) ---

U = 16 * 1024 * 1024  # exec.stack.params: USTKSIZE=16777216 sizeof(Tos)=72 BY2WD=8


def _err(args: list[bytes], arch_name: str) -> str | None:
    try:
        stack_plan([], args, get_arch(arch_name))
    except KernelError as e:
        return e.errstr
    return None


@pytest.mark.parametrize("arch_name", ["amd64", "arm64"])
def test_stack_probes(arch_name: str) -> None:
    base = [b"pchk", b"stack"]  # the probes' children show len[0]=4 len[1]=5
    assert _err([*base, b"x" * U], arch_name) == Ebadarg  # arg_gt_USTKSIZE
    # nbytes = 72 + 5 + 6 + (L+1): make it USTKSIZE, then USTKSIZE-1.
    assert _err([*base, b"x" * (U - 84)], arch_name) == Enovmem  # nbytes_eq_USTKSIZE
    assert _err([*base, b"x" * (U - 85)], arch_name) == Enovmem  # nbytes_eq_USTKSIZE-1 (PGROUND)
    assert _err([*base, b"x" * (U - 4212)], arch_name) is None  # fits_L=USTKSIZE-4212
    assert _err([*base, b"x" * (U - 69748)], arch_name) is None  # fits_L=USTKSIZE-69748
    assert _err([*base, b"x" * (U - 4204)], arch_name) == Enovmem  # toobig_L=USTKSIZE-4204
    assert _err(base + [b""] * (1864680 - 2), arch_name) == Enovmem  # many_empty_args_1864680
    assert _err(base + [b""] * (100000 - 2), arch_name) is None  # many_empty_args_100000


def test_stack_fits_leaves_one_page() -> None:
    # exec.stack.fits_L=USTKSIZE-4212: exec succeeded and the child then
    # faulted below the stack segment: only one page was left below argv.
    plan = stack_plan([], [b"pchk", b"stack", b"x" * (U - 4212)], A64)
    assert plan.argv - (A64.ustktop - A64.ustksize) == 4096
    assert plan.nargs == 3 and plan.nbytes == 72 + 5 + 6 + U - 4212 + 1
    assert plan.tos == A64.ustktop - 72 and plan.strings == A64.ustktop - plan.nbytes


def test_stack_32_bit_alignment() -> None:
    i386 = get_arch("386")
    # ssize + 4 (argc, pushed by execregs) must be 8-aligned.
    p = stack_plan([], [b"ab"], i386)  # nbytes 56+3=59 -> 60, + 2 words = 68
    assert p.nbytes == 59 and p.ssize == 68
    p = stack_plan([], [b"a", b"b"], i386)  # nbytes 60, + 3 words = 72, +4 -> 76
    assert p.nbytes == 60 and p.ssize == 76 and (p.ssize + 4) % 8 == 0
    # #! arguments are counted without the per-argument checks.
    assert stack_plan(["s", "/p/s"], [], A64).nbytes == 72 + 2 + 5


# --- /proc/N/args: exec.procargs.* ---------------------------------------------------

ALPHA = "abcdefghijklmnopqrstuvwxyz"


@pytest.mark.parametrize(
    "third,shown",
    [
        ((ALPHA * 6)[:149], 127),  # exec.procargs.150: procargs(len=127)
        ("b" * 116 + "€€", 125),  # exec.procargs.rune_boundary: len=125, the € is cut whole
        ("c" * 117, 127),  # exec.procargs.128: exactly 128 bytes, nothing cut
        ("c" * 118, 127),  # exec.procargs.129
    ],
)
def test_procargs(third: str, shown: int) -> None:
    args = truncate_args(["pchk", "args", third])
    assert len(args) <= 128 and args.endswith(b"\0")
    text = " ".join(a.decode() for a in args[:-1].split(b"\0"))
    assert len(text) == shown
    assert text == ("pchk args " + third)[:shown]


def test_procargs_script() -> None:
    plan = run("s_pchkargs", SEEDP, ["s_pchkargs"])  # exec.procargs.script
    assert plan.args.rstrip(b"\0").replace(b"\0", b" ") == b"s_pchkargs args /bin/pdata/s_pchkargs"


def test_procargs_edge() -> None:
    assert truncate_args([]) == b""
    # fullrune() takes a continuation byte followed by anything as a whole
    # rune, so the cut can land inside a character: 41 euros, then E2 82.
    euros = ("\u20ac" * 60).encode()
    assert truncate_args(["\u20ac" * 60]) == euros[:125] + b"\0"
    assert truncate_args(["é" * 64]) == ("é" * 63).encode() + b"\0"

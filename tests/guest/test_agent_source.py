"""agent.c stays in the Plan 9 C dialect the 9front compilers (6c/7c/vc) take.

These compilers cannot run here; the checks below catch the constructs that
would break them, plus the agent's own rules (no malloc, no fmt).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from harness.guest.hostbuild import AGENT_DIR, compiler

# agent.c and the op table generated from harness/ops.py, as 6c sees them together
SRC = (AGENT_DIR / "agent.c").read_text(encoding="utf-8") + (AGENT_DIR / "ops.h").read_text(encoding="utf-8")
CODE = re.sub(r"/\*.*?\*/", "", SRC, flags=re.S)  # comments out
CODE_NOSTR = re.sub(r'"(\\.|[^"\\])*"', '""', CODE)
CODE_NOSTR = re.sub(r"'(\\.|[^'\\])'", "''", CODE_NOSTR)


def test_includes_are_u_h_then_libc_h_then_the_generated_op_table_only() -> None:
    assert re.findall(r"^#include\s+(\S+)", SRC, flags=re.M) == ["<u.h>", "<libc.h>", '"ops.h"']


def test_no_line_comments_or_c99_constructs() -> None:
    assert "//" not in CODE_NOSTR
    assert not re.search(r"\bfor\s*\(\s*(int|long|char|uint|vlong)\b", CODE_NOSTR)  # declarations in for
    assert not re.search(r"[{,]\s*\.[a-z_]+\s*=", CODE_NOSTR)  # designated initialisers
    assert not re.search(r"\b(bool|_Bool|inline|restrict|long\s+long)\b", CODE_NOSTR)


def test_no_allocation_or_fmt_after_start() -> None:
    for fn in ("malloc", "mallocz", "realloc", "free", "sbrk", "print", "fprint", "snprint",
               "smprint", "quotestrdup", "getenv", "strdup", "getfields"):
        assert not re.search(rf"\b{fn}\s*\(", CODE_NOSTR), fn


# The functions 9front's /sys/include/libc.h declares (027f579f4), names only.
P9_LIBC_NAMES = """
Inf NaN _assert _exits _qlockinit _tas abort abs accept access acos adec ainc alarm announce asctime
asin atan atan2 atexit atexitdont atnotify atof atoi atol atoll await bind brk calloc canlock
canqlock canrlock canwlock ceil charstod chartorune chdir cistrcmp cistrncmp cistrstr cleanname
close cos cosh cputime create ctime cycles dec16 dec16chr dec32 dec32chr dec32x dec64 dec64chr
dec64x decrypt dial dirfstat dirfwstat dirread dirreadall dirstat dirwstat dofmt dorfmt dup enc16
enc16chr enc32 enc32chr enc32x enc64 enc64chr enc64x encodefmt encrypt errfmt errstr exec execl
exits exp fabs fauth fd2path floor fmod fmtfdflush fmtfdinit fmtinstall fmtprint fmtrune
fmtrunestrcpy fmtstrcpy fmtstrflush fmtstrinit fmtvprint fork fprint frand free freenetconninfo
frexp fstat fullrune fullrunenorm fullutfnorm fversion fwstat getcallerpc getenv getfcr getfields
getfsr getmalloctag getnetconninfo getpid getppid getrealloctag gettokens getuser getwd gmtime
hangup hypot idn2utf iounit isInf isNaN isalpharune isdigitrune islowerrune isspacerune istitlerune
isupperrune labs ldexp listen lnrand localtime lock log log10 longjmp lrand malloc mallocalign
malloctopoolblock mallocz memccpy memchr memcmp memcpy memmove memset mktemp modf mount msize muldiv
needsrcquote netcrypt netmkaddr noted notejmp notify nrand nsec ntruerand nulldir open oseek perror
pipe postnote pow pow10 pread preadv print privalloc procsetname prof pushtls putenv pwrite pwritev
qlock qsort qunlock quotefmtinstall quoterunestrdup quoterunestrfmt quotestrdup quotestrfmt rand
read readn readv realloc reject remove rendezvous rerrstr rfork rlock rsleep runecomp runedecomp
runefmtstrflush runefmtstrinit runegbreak runelen runenlen runeseprint runesmprint runesnprint
runesprint runestrcat runestrchr runestrcmp runestrcpy runestrdup runestrecpy runestrlen runestrncat
runestrncmp runestrncpy runestrrchr runestrstr runetochar runevseprint runevsmprint runevsnprint
runewbreak runlock rwakeup rwakeupall sbrk seek segattach segbrk segdetach segflush segfree
semacquire semrelease seprint setfcr setfsr setjmp setmalloctag setnetmtpt setrealloctag sin sinh
sleep smprint snprint sprint sqrt srand stat strcat strchr strcmp strcpy strcspn strdup strecpy
strlen strncat strncmp strncpy strpbrk strrchr strspn strstr strtod strtok strtol strtoll strtoul
strtoull sysfatal syslog sysname tan tanh time times tm2sec tmfmt tmfmtinstall tmnorm tmnow tmparse
tmtime tmtimens tokenize tolower tolowerrune totitlerune toupper toupperrune truerand tsemacquire
tzload umuldiv unlock unmount unquoterunestrdup unquotestrdup utf2idn utfcomp utfdecomp utfecpy
utfgbreak utflen utfnlen utfrrune utfrune utfutf utfwbreak vfprint vseprint vsmprint vsnprint wait
waitpid werrstr wlock write writev wstat wunlock
"""


def test_no_static_name_clashes_with_plan9_libc() -> None:
    """A static function named like a libc.h prototype is a type clash in 6c."""
    p9names = set(P9_LIBC_NAMES.split())
    defined = set(re.findall(r"^([a-z_][a-z0-9_]*)\(", SRC, flags=re.M))
    assert not defined & p9names


def test_mkfile_builds_nhagent() -> None:
    mk = (AGENT_DIR / "mkfile").read_text(encoding="utf-8")
    assert "</$objtype/mkfile" in mk
    assert re.search(r"^TARG=nhagent$", mk, flags=re.M)
    assert re.search(r"^OFILES=agent\.\$O$", mk, flags=re.M)
    assert re.search(r"^HFILES=ops\.h$", mk, flags=re.M)  # mk rebuilds when the generated table changes


def test_strict_host_warnings(tmp_path: Path) -> None:
    """Beyond -Wall -Wextra: no declaration after statement, no shadowing, no VLAs."""
    cc = compiler()
    if cc is None:
        pytest.skip("no gcc")
    flags = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wdeclaration-after-statement", "-Wshadow",
             "-Wvla", "-Wstrict-prototypes", "-fsyntax-only", "-I", str(AGENT_DIR / "compat")]
    proc = subprocess.run([cc, *flags, str(AGENT_DIR / "agent.c")], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr

"""A scripted stand-in for a guest console, run under a pty by the console tests.

It replays the boot part of a REAL console transcript (tests/qemu/data/*.boot.txt,
cut from shared/observations/boot/) and stops for input exactly where the real
machine did: U-Boot's autoboot countdown (one key), its ``=>`` prompt (a line)
and the kernel's ``bootargs is ...`` prompt (a line).  After that it imitates rc
just enough to test command framing (echo with ``^`` and ``$status``), plus a few
test commands:

    kprint   prints a kernel message line in the middle of the output
    partial  prints text with no final newline
    fail     sets $status to 'fail 42: failed'
    panic    prints a panic in 9front's format (port/devcons.c panic(), pc
             dumpstack) and exits, as a cpu server does (QEMU -no-reboot exits)
    hang     never answers again

Every line it reads is appended to the file named by --record.
Options: --silent (print nothing ever), --bad-uboot (U-Boot refuses the image).
"""

from __future__ import annotations

import argparse
import re
import sys
import time

out = sys.stdout


def say(text: str) -> None:
    out.write(text)
    out.flush()


def readline(record: str | None) -> str:
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)
    line = line.rstrip("\r\n")
    if record:
        with open(record, "a") as f:
            f.write(line + "\n")
    return line


def expand(words: str, status: str) -> str:
    words = words.replace("^", "")
    return re.sub(r"\$(\w+)", lambda m: status if m.group(1) == "status" else "", words)


def rc(record: str | None) -> None:
    status = ""
    while True:
        say("% ")
        line = readline(record)
        for seg in line.split(";"):
            seg = seg.strip()
            if not seg:
                continue
            if seg.startswith("echo "):
                say(expand(seg[5:], status) + "\n")
                status = ""
            elif seg == "kprint":
                say("first\n")
                say("pexit 118: suicide: invalid address 0x1/1 in sys call pc=0x2060a4\n")
                say("second\n")
                status = ""
            elif seg == "partial":
                say("no newline")
                status = ""
            elif seg == "fail":
                status = "fail 42: failed"
            elif seg == "panic":
                say("panic: fault: 0x0\ndumpstack\n")
                say("ktrace /kernel/path ffffffff80117b2c ffffffff80139f60 <<EOF\n")
                say("ffffffff80139f70=ffffffff80117b2c\nEOF\ncpu0: exiting\n")
                sys.exit(1)
            elif seg == "hang":
                time.sleep(3600)
            else:
                say(seg + "\n")
                status = ""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("transcript")
    ap.add_argument("--record")
    ap.add_argument("--silent", action="store_true")
    ap.add_argument("--bad-uboot", action="store_true")
    args = ap.parse_args()
    if args.silent:
        time.sleep(3600)
    with open(args.transcript, encoding="utf-8", errors="replace", newline="") as f:
        lines = f.read().splitlines(keepends=True)
    for line in lines:
        if "Hit any key to stop autoboot" in line:
            say(line)
            sys.stdin.read(1)
        elif line.startswith("=> "):
            say("=> ")
            typed = readline(args.record)
            say(typed + "\n")
            if args.bad_uboot:
                say("Wrong Image Format for bootm command\nERROR: can't get kernel image!\n=> ")
                time.sleep(3600)
        elif line.startswith("bootargs is"):
            say(line[: line.index("] ") + 2])
            typed = readline(args.record)
            say(typed + "\n")
            rc(args.record)
        else:
            say(line)
            time.sleep(0.001)


if __name__ == "__main__":
    main()

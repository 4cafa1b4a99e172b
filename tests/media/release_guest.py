"""A scripted release boot under a pty (for the console tests): the prompts a 9front
release ISO or installed system asks, in their exact texts at 027f579f4:
sys/src/9/boot/bootrc (ask: "bootargs is (...)[default] ", asked again when the
answer names no method), libauthsrv/readcons.c ("user[glenda]: "), rc/bin/screenrc
(ask: "vgasize is (...) [default] ").  Then rc's "term% " prompt.  Every answer
is appended to the --record file.  --default D sets the bootargs default."""

from __future__ import annotations

import argparse
import sys

p = argparse.ArgumentParser()
p.add_argument("--record", required=True)
p.add_argument("--default", default="local!/dev/sdD0/data")
p.add_argument("--methods", default="local")
args = p.parse_args()


def ask(text: str) -> str:
    sys.stdout.write(text)
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)
    line = line.rstrip("\r\n")
    with open(args.record, "a") as f:
        f.write(line + "\n")
    return line


print("\nPlan 9\n/dev/sdD0: QEMU DVD-ROM\n/dev/sdD0/data 9660", flush=True)
while True:
    got = ask(f"bootargs is (tcp, tls, il, local!device)[{args.default}] ") or args.default
    if got.split("!")[0] in args.methods.split(","):
        break
ask("user[glenda]: ")
ask("vgasize is (text, 640x480x8, 1024x768x16, ...) [1024x768x16] ")
ask("mouseport is (ps2, ps2intellimouse, 0, 1, 2) [ps2] ")
while True:
    line = ask("term% ")
    sys.stdout.write(line.replace("^", "").replace("$status", "").replace("echo ", "").replace("; ", "\n") + "\n")

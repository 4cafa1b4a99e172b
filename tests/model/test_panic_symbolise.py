"""A panic off the console, its PC symbolised with a real Plan 9 a.out's symbol table
(harness.report.panic and harness.report.symbolise; the a.out built by golang-go)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.model.symbols import load_symbols
from harness.report.panic import crash_summary, panic_event
from harness.report.symbolise import symboliser


@pytest.mark.go
def test_a_panic_pc_is_named_by_the_kernels_symbols(go_binaries: dict[str, Any]) -> None:
    path = Path(go_binaries["amd64"].path)
    main = load_symbols(path).find("main.main")
    assert main is not None
    console = ["cpu0: registers", f"trap: fault read pc={main.value + 0x11:#x} sp=0x1000",
               "panic: kernel fault", f"ktrace /kernel/path {main.value + 0x11:x} 0", "dumpstack"]
    ev = panic_event(console, "kernel fault", "command")
    assert (ev.message, ev.pc, ev.state) == ("kernel fault", main.value + 0x11, "command")
    assert ev.lines[-3:] == ("panic: kernel fault", console[3], "dumpstack")
    sym = symboliser(path)
    assert sym is not None and sym(main.value + 0x11) == "main.main+0x11"
    assert crash_summary("panic: kernel fault", ev.pc, sym) == "panic: kernel fault at main.main+0x11"
    assert crash_summary("panic: x", 0x10, sym) == "panic: x at 0x10"  # outside every symbol
    assert crash_summary("panic: x", None, sym) == "panic: x"


def test_a_kernel_without_symbols_gives_no_symboliser(tmp_path: Path) -> None:
    text = tmp_path / "notakernel"
    text.write_text("not an a.out\n")
    assert symboliser(text) is None
    assert panic_event(["boot", "noise"], "lost\r", "banner").message == "lost"  # the line scrolled away

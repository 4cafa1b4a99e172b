"""Per-arch facts against what real kernels showed (probe lines quoted below)."""

from __future__ import annotations

import pytest

from harness.errors import UsageError
from harness.model.arch import (
    ALL_ARCHES,
    ARCHES,
    HDR_MAGIC,
    MAGIC_NAMES,
    MAGICS,
    NSEG,
    arch_for_magic,
    get_arch,
    tos_size,
)

# /work/shared/observations/probes/*.txt, `seg.initial` (the probe's own segments).
SEG_INITIAL = {
    "amd64": "Stack 7ffffefff000 7ffffffff000 1 | Text R 200000 400000 2 | Data 400000 402000 1 | Bss 402000 41c000 1",
    "arm64": "Stack 7feff0000 7ffff0000 1 | Text R 10000 20000 2 | Data 20000 22000 1 | Bss 22000 3c000 1",
}
# `exec.stack.params` on both kernels.
STACK_PARAMS = {"USTKSIZE": 16777216, "sizeof(Tos)": 72, "BY2WD": 8}


def _segs(line: str) -> dict[str, tuple[int, int]]:
    out = {}
    for part in line.split("|"):
        f = part.split()
        out[f[0]] = (int(f[-3], 16), int(f[-2], 16))
    return out


@pytest.mark.parametrize("name", sorted(SEG_INITIAL))
def test_stack_and_text_base_match_the_real_kernel(name: str) -> None:
    arch = get_arch(name)
    segs = _segs(SEG_INITIAL[name])
    assert segs["Stack"] == (arch.ustktop - arch.ustksize, arch.ustktop)
    assert segs["Text"][0] == arch.utzero
    # Data starts at the text end rounded to the magic's alignment.
    align = arch.text_align(arch.magics[0])
    assert segs["Text"][1] % align == 0 and segs["Data"][0] == segs["Text"][1]
    assert all(v % arch.page_size == 0 for seg in segs.values() for v in seg)


@pytest.mark.parametrize("name", ["amd64", "arm64"])
def test_stack_params_match_probe(name: str) -> None:
    arch = get_arch(name)
    assert arch.ustksize == STACK_PARAMS["USTKSIZE"]
    assert arch.tos_size == STACK_PARAMS["sizeof(Tos)"]
    assert arch.word_size == STACK_PARAMS["BY2WD"]


def test_tos_size_on_32_bit() -> None:
    # 4 pointers + 2 ulongs = 24, then uvlong + 2 vlong = 48, 2 ulongs = 56.
    assert tos_size(4) == 56
    assert get_arch("386").tos_size == 56


def test_magic_formula() -> None:
    # a.out.h: _MAGIC(f, b) = f | ((4*b)+0)*b + 7; I_MAGIC is the well-known 0x1eb.
    assert MAGICS["I"] == 0x1EB
    assert MAGICS["S"] == HDR_MAGIC | (4 * 26 * 26 + 7)
    assert MAGICS["R"] & HDR_MAGIC and not MAGICS["V"] & HDR_MAGIC
    assert len(MAGIC_NAMES) == len(MAGICS)


def test_each_magic_belongs_to_one_arch() -> None:
    seen: dict[int, str] = {}
    for arch in ALL_ARCHES.values():
        for m in arch.magics:
            assert m not in seen, (arch.name, seen.get(m))
            seen[m] = arch.name
            assert arch_for_magic(m) is arch
    assert arch_for_magic(MAGICS["K"]) is None  # sparc: no 9front port here


def test_alignment_per_magic() -> None:
    assert get_arch("amd64").text_align(MAGICS["S"]) == 2 << 20
    assert get_arch("arm64").text_align(MAGICS["R"]) == 64 << 10
    assert get_arch("mips").text_align(MAGICS["V"]) == 16 << 10
    assert get_arch("mips").text_align(MAGICS["M"]) == 4096
    mipsle = get_arch("mipsle")
    assert mipsle.text_align(MAGICS["N"]) == 4096
    assert mipsle.text_align(MAGICS["P"]) == 4096
    assert mipsle.text_align(MAGICS["P"], spim_switch=True) == 16 << 10


def test_model_arches_and_lookup() -> None:
    assert set(ARCHES) == {"amd64", "arm64", "mips", "mipsle", "386"}
    assert get_arch("arm").magics == (MAGICS["E"],)
    with pytest.raises(UsageError, match="unknown arch 'vax'"):
        get_arch("vax")
    for a in ALL_ARCHES.values():
        assert a.nseg == NSEG == 10
        assert a.word_size == a.pointer_size
        assert a.stack_base > a.utzero
        assert a.ustktop <= a.addr_mask

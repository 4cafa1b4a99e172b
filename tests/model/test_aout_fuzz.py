"""Arbitrary bytes never make the loader raise anything but KernelError."""

from __future__ import annotations

import contextlib
import struct
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import InputError
from harness.model.aout import (
    is_binary,
    load_image,
    parse_shebang,
    plan_exec,
    stack_plan,
    truncate_args,
)
from harness.model.arch import ARCHES, HDR_MAGIC, MAGICS, Arch
from harness.model.errors import KernelError
from harness.model.profiles import PROFILES, Profile
from harness.model.symbols import load_symbols

arches = st.sampled_from(sorted(ARCHES.values(), key=lambda a: a.name))
profiles = st.sampled_from(sorted(PROFILES.values(), key=lambda p: p.name))
u32 = st.integers(0, 2**32 - 1)


@st.composite
def headers(draw: st.DrawFn) -> bytes:
    magic = draw(st.sampled_from(sorted(MAGICS.values())) | u32)
    fields = [draw(u32 | st.integers(0, 0x10000)) for _ in range(7)]
    out = struct.pack(">8I", magic, *fields)
    if magic & HDR_MAGIC:
        out += struct.pack(">Q", draw(st.integers(0, 2**64 - 1) | st.integers(0, 2**23)))
    tail = draw(st.binary(max_size=64))
    cut = draw(st.integers(0, len(out) + len(tail)))
    return (out + tail)[:cut] if draw(st.booleans()) else out + tail


def _only_kernel_errors(data: bytes, arch: Arch, profile: Profile) -> None:
    try:
        img = load_image(data, arch, profile)
    except KernelError as e:
        assert e.errstr
    else:
        assert is_binary(data, arch, profile)
        assert img.text.base == arch.utzero
        assert arch.utzero + img.hdr_size <= img.entry < arch.utzero + img.text.file_length
        if arch.pointer_size == 8:  # no wrap-around: the layout is contiguous
            assert img.text.top == img.data.base and img.data.top == img.bss.base
            assert img.bss.top < arch.ustktop - arch.ustksize and img.commit_error is None
    try:
        toks = parse_shebang(data, profile)
    except KernelError:
        pass
    else:
        assert toks  # a token may be empty (tokenize of ''), namec then fails
    with contextlib.suppress(KernelError):
        plan_exec("/x/y", ["y", "a"], arch, profile, lambda p: data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), arches, profiles)
def test_random_bytes(data: bytes, arch: Arch, profile: Profile) -> None:
    _only_kernel_errors(data, arch, profile)


@settings(max_examples=300, deadline=None)
@given(headers(), arches, profiles)
def test_random_headers(data: bytes, arch: Arch, profile: Profile) -> None:
    _only_kernel_errors(data, arch, profile)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["#!", "#! ", "#!\t", "#!'"]), st.binary(max_size=300), arches, profiles)
def test_random_shebangs(prefix: str, rest: bytes, arch: Arch, profile: Profile) -> None:
    _only_kernel_errors(prefix.encode() + rest, arch, profile)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=40) | st.binary(max_size=40), max_size=20), arches)
def test_stack_and_procargs(args: list[Any], arch: Arch) -> None:
    plan = stack_plan(args[:2], args[2:], arch)
    assert plan.nargs == len(args)
    assert plan.tos < arch.ustktop and plan.argv <= plan.strings <= plan.tos
    out = truncate_args(args)
    assert len(out) <= 128 and (not out or out.endswith(b"\0"))


@settings(max_examples=200, deadline=None)
@given(headers(), st.binary(max_size=200))
def test_symbols_never_crash(hdr: bytes, rest: bytes) -> None:
    try:
        table = load_symbols(hdr + rest)
    except InputError:
        return
    for s in table.symbols:
        assert table.lookup(s.value) is None or isinstance(table.lookup(s.value), tuple)

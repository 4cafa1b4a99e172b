"""Closed vocabularies said once: the arch lists agree with harness/model/arch.py."""

from __future__ import annotations

from harness import images
from harness.guest.build import OBJECT_LETTER
from harness.model.arch import ARCHES, QEMU_ARCHES
from harness.qemu.kernelfile import ELF_MACHINE
from harness.qemu.profiles import PROFILES
from harness.run import modelrun


def test_qemu_arches_are_modelled_and_have_a_qemu_profile() -> None:
    assert set(QEMU_ARCHES) <= set(ARCHES)
    assert set(QEMU_ARCHES) <= set(PROFILES)


def test_every_arch_list_is_the_one_in_arch_py() -> None:
    assert images.ARCHES is QEMU_ARCHES
    # every per-arch table is a view of the Arch entries: a new arch is one entry there
    assert tuple(OBJECT_LETTER) == QEMU_ARCHES  # the QEMU arches are the ones with compilers
    assert set(modelrun.DEFAULT_PROFILE_BY_ARCH) == set(ARCHES) | {"arm"}
    assert modelrun.default_profile("arm64") == "9front-current" and modelrun.default_profile("amd64") == "9front-2022.05"
    assert set(ELF_MACHINE) == set(ARCHES) - {"386"}

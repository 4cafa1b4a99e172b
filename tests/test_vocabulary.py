"""Closed vocabularies said once: the arch lists agree with harness/model/arch.py."""

from __future__ import annotations

from harness import images
from harness.guest.build import OBJECT_LETTER
from harness.model.arch import ARCHES, QEMU_ARCHES
from harness.qemu.profiles import PROFILES
from harness.run import modelrun


def test_qemu_arches_are_modelled_and_have_a_qemu_profile() -> None:
    assert set(QEMU_ARCHES) <= set(ARCHES)
    assert set(QEMU_ARCHES) <= set(PROFILES)


def test_every_arch_list_is_the_one_in_arch_py() -> None:
    assert images.ARCHES is QEMU_ARCHES
    # not yet imported from arch.py (harness/run and guest/build belong to other branches): equal, checked here
    assert tuple(modelrun.QEMU_ARCHES) == QEMU_ARCHES
    assert tuple(OBJECT_LETTER) == QEMU_ARCHES

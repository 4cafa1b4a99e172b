"""Booting 9front under QEMU.

- ``profiles``: per-arch QEMU profiles as data, ``build_command``, ``check_qemu``,
  disks and qcow2 overlays.
- ``console``: the boot dialogue state machine and nonce-framed rc commands (pexpect).
- ``qmp``: a synchronous facade over ``qemu.qmp`` (status, quit, savevm/loadvm,
  registers, memory dumps).
- ``machine``: ``Machine``, one QEMU process from start to guaranteed cleanup.
- ``uimage`` / ``fixture``: uImage headers, and the bare-metal boot *fixtures*
  (not kernels) used to test all of this where no 9front kernel exists.

Typical use::

    from harness.qemu.machine import Machine
    from harness.qemu.profiles import get_profile

    with Machine(get_profile("arm64"), Path("9qemu.u"), workdir=results / "vm0",
                 snapshots=True) as m:
        m.boot()                       # FIRMWARE -> BANNER -> BOOTARGS -> RC
        m.snapshot("booted")
        r = m.run("cat /dev/sysname")  # CommandResult(output, status)
        m.restore("booted")
"""

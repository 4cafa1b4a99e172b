"""Remote QEMU hosts over SSH (paramiko): the transport (ssh), processes that cannot
outlive the harness (process), and a QEMU machine run there (machine)."""

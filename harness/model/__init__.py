"""The golden kernel model: ``Machine(arch, profile, agent_image).run(program)``."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:  # lazy: importing harness.model stays cheap
    if name == "Machine":
        from harness.model.machine import Machine

        return Machine
    raise AttributeError(name)


__all__ = ["Machine"]

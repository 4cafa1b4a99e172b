"""Scenarios: the YAML format in testcases/ and its compiler to the program format."""

from harness.scenario.compiler import (
    Expect,
    Scenario,
    compile_document,
    compile_scenario,
    find_scenarios,
)

__all__ = ["Expect", "Scenario", "compile_document", "compile_scenario", "find_scenarios"]

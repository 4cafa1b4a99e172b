"""Reporting: what a run found, for people and for other programs.

``result`` is the one result type of `harness model` and `harness run`;
``results`` the run's directory (journal, summary.json); ``text`` and ``html``
render diffs and verdicts; ``panic`` and ``symbolise`` read kernel crashes;
``progress`` shows a long run live.  Formats register themselves
(``formats``): a new one is one new module here.  Nothing in this package
imports what produces results (run/, qemu/, guest/, cli/).
"""

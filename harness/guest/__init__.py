"""The guest side: the Plan 9 C agent that performs a program with real system calls.

* ``agent/agent.c`` - the agent (Plan 9 C, built in 9front with ``agent/mkfile``);
  usage ``nhagent [-o outfile] [-d dir] [-t tracefile] program-file``.
* ``agent/compat/`` - u.h, libc.h and host.c: the same agent.c built with the
  host C compiler, its system calls answered from a (model) trace.
* ``hostbuild`` - builds that host agent and checks it reproduces the golden
  model's trace of a program (the CI proof of the agent's parser, dispatch
  and framing without a 9front guest).
"""

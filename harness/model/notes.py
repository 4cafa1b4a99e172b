"""Notes: posting them (port/proc.c postnote) and the kernel's half of
delivering them on the way back to user mode (the arch notify(), e.g.
pc64/trap.c notify).  What the user's handler does is the agent's."""

from __future__ import annotations

from harness.model.errors import Exit
from harness.model.fmt import raw, unraw
from harness.model.portdat import ERRMAX, NNOTE, NUSER, Note, Proc, ProcState
from harness.model.segments import PC_MASK


def postnote(p: Proc, msg: str, flag: int) -> int:
    """port/proc.c postnote: a system note flushes the queue when it cannot be handled."""
    if p.state == ProcState.DEAD:
        return 0
    if flag != NUSER and (p.notify is None or p.notified):
        p.notes.clear()
    ret = 0
    if len(p.notes) < NNOTE:
        p.notes.append(Note(unraw(raw(msg)[: ERRMAX - 1]), flag))
        ret = 1
    if p.state == ProcState.WAIT:
        p.pending_interrupt = True
    return ret


def notify(p: Proc) -> Note | None:
    """The arch notify(): the next note for the user's handler (now
    notified), None when no note is pending; a note nobody handles, or a
    system note while the handler runs, kills the process (pexit)."""
    if not p.notes:
        return None
    p.pending_interrupt = False  # notify() consumes notepending
    n = p.notes[0]
    msg = n.msg
    if msg.startswith("sys:"):  # pc64/trap.c:571-573 (e9bb7876e): " pc=%#p" after ERRMAX-15 bytes
        msg = msg[: ERRMAX - 15] + f" pc={PC_MASK}"
    if p.notify is None or (n.flag != NUSER and p.notified):
        raise Exit(msg)
    p.notes.pop(0)
    p.lastnote = Note(msg, n.flag)
    p.notified = True
    return p.lastnote


NCONT = "cont"  # libc.h noted(NCONT); anything else ends the process


def noted(p: Proc, how: str) -> None:
    """The arch noted() at the end of a handler: NCONT resumes, NDFLT (and
    a bad argument) pexit with the note (pc64/trap.c noted)."""
    if how == NCONT:
        p.notified = False
        return
    raise Exit(p.lastnote.msg if p.lastnote is not None else "")

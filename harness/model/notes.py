"""Notes: posting them (port/proc.c postnote) and the kernel's half of
delivering them on the way back to user mode (the arch notify(), e.g.
pc64/trap.c notify).  What the user's handler does is the agent's."""

from __future__ import annotations

from harness.model.coverage import rule
from harness.model.errors import Exit
from harness.model.fmt import raw, unraw
from harness.model.kernel import Kernel
from harness.model.portdat import ERRMAX, NNOTE, NUSER, Note, Proc, ProcState
from harness.model.profiles import Sw
from harness.model.segments import PC_MASK


def mknote(msg: str, flag: int) -> Note:
    return Note(unraw(raw(msg)[: ERRMAX - 1]), flag)


def postnote(p: Proc, msg: str | Note, flag: int) -> int:
    """port/proc.c postnote (pushnote at 027f579f4): a system note flushes
    the queue when it cannot be handled.  MSG may be a Note object that
    several processes share (postnotepg after 3e1154879)."""
    if p.state == ProcState.DEAD:
        return 0
    if flag != NUSER and (p.notify is None or p.notified):
        p.notes.clear()
    ret = 0
    if len(p.notes) < NNOTE:
        p.notes.append(msg if isinstance(msg, Note) else mknote(msg, flag))
        ret = 1
    if p.state == ProcState.WAIT:
        p.pending_interrupt = True
    return ret


PC_SUFFIX = f" pc={PC_MASK}"


def with_pc(k: Kernel, p: Proc, n: Note) -> str:
    """A "sys:" note's text as the handler gets it.  Seed (pc64/trap.c:571-573
    at e9bb7876e): the text cut to ERRMAX-15 bytes, then " pc=%#p".  From
    c8e25d2a1 (port/proc.c popnote, 1067-1071 at 027f579f4): the suffix after
    the whole text, cut to fit ERRMAX, and only on a note no other process
    holds (a postnotepg note is shared, 3e1154879)."""
    msg = n.msg
    if not msg.startswith("sys:"):
        return msg
    if not k.profile.has(Sw.NOTE_PC_AFTER_TEXT):
        rule("pc64/trap.c:571")
        return msg[: ERRMAX - 15] + PC_SUFFIX
    if k.profile.has(Sw.NOTE_SHARED) and note_refs(k, n) > 1:
        rule("proc.c@3e1154879:1020")
        return msg
    rule("proc.c@c8e25d2a1:927")
    return unraw(raw(msg + PC_SUFFIX)[: ERRMAX - 1])


def note_refs(k: Kernel, n: Note) -> int:
    """Note.ref: the processes holding N queued or as their lastnote."""
    return sum(sum(m is n for m in q.notes) + (q.lastnote is n) for q in k.live())


def pc_cut(k: Kernel, text: str) -> bool:
    """Would ERRMAX cut into the real " pc=0x..." after TEXT (the note's
    text before the suffix)?  Then where is unknowable: its digits are."""
    return len(raw(text)) + len(" pc=0x") + 2 * k.arch.pointer_size > ERRMAX - 1


def notify(k: Kernel, p: Proc) -> Note | None:
    """The arch notify(): the next note for the user's handler (now
    notified), None when no note is pending; a note nobody handles, or a
    system note while the handler runs, kills the process (pexit)."""
    if not p.notes:
        return None
    p.pending_interrupt = False  # notify() consumes notepending
    n = p.notes[0]
    text = n.msg
    n.msg = with_pc(k, p, n)  # in place: a shared note is left as it is
    n.pc_unknown = n.msg != text and k.profile.has(Sw.NOTE_PC_AFTER_TEXT) and pc_cut(k, text)
    if p.notify is None or (n.flag != NUSER and p.notified):
        raise Exit(n.msg)
    p.notes.pop(0)
    p.lastnote = n
    p.notified = True
    return n


NCONT = "cont"  # libc.h noted(NCONT); anything else ends the process


def noted(p: Proc, how: str) -> None:
    """The arch noted() at the end of a handler: NCONT resumes, NDFLT (and
    a bad argument) pexit with the note (pc64/trap.c noted)."""
    if how == NCONT:
        p.notified = False
        return
    raise Exit(p.lastnote.msg if p.lastnote is not None else "")

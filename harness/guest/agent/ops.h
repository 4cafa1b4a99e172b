/* generated from harness/ops by python -m harness.ops --write; do not edit */

/* operation kinds (OpKind) */
enum { Kcall, Kprobe, Kaction };

typedef struct Op Op;
struct Op {
	char	*name;
	int	min;
	int	max;	/* -1: any */
	int	kind;
	char	*slots;	/* per argument: v value (isbavn), c block, h mode, w word; * repeats the last */
};

static Op ops[] = {
	{"rfork", 1, 2, Kcall, "vc"},
	{"exec", 2, -1, Kcall, "vcv*"},
	{"exits", 1, 1, Kcall, "v"},
	{"await", 2, 2, Kcall, "vv"},
	{"errstr", 2, 2, Kcall, "vv"},
	{"_errstr", 1, 1, Kcall, "v"},
	{"_wait", 1, 1, Kcall, "v"},
	{"werrstr", 1, 1, Kcall, "v"},
	{"rendezvous", 2, 2, Kcall, "vv"},
	{"semacquire", 2, 2, Kcall, "vv"},
	{"tsemacquire", 2, 2, Kcall, "vv"},
	{"semrelease", 2, 2, Kcall, "vv"},
	{"sleep", 1, 1, Kcall, "v"},
	{"alarm", 1, 1, Kcall, "v"},
	{"nsec", 0, 0, Kcall, ""},
	{"notify", 1, 1, Kcall, "h"},
	{"noted", 1, 1, Kcall, "v"},
	{"sysr1", 0, 0, Kcall, ""},
	{"brk", 1, 1, Kcall, "v"},
	{"segbrk", 2, 2, Kcall, "vv"},
	{"segattach", 4, 4, Kcall, "vvvv"},
	{"segdetach", 1, 1, Kcall, "v"},
	{"segfree", 2, 2, Kcall, "vv"},
	{"open", 2, 2, Kcall, "vv"},
	{"create", 3, 3, Kcall, "vvv"},
	{"close", 1, 1, Kcall, "v"},
	{"dup", 2, 2, Kcall, "vv"},
	{"pipe", 1, 1, Kcall, "v"},
	{"read", 3, 3, Kcall, "vvv"},
	{"write", 3, 3, Kcall, "vvv"},
	{"seek", 3, 3, Kcall, "vvv"},
	{"remove", 1, 1, Kcall, "v"},
	{"fd2path", 3, 3, Kcall, "vvv"},
	{"chdir", 1, 1, Kcall, "v"},
	{"postnote", 3, 3, Kcall, "vvv"},
	{"probe", 1, 3, Kprobe, "wvv"},
	{"writefile", 2, 3, Kaction, "vvv"},
	{"putenv", 2, 2, Kaction, "vv"},
	{"touch", 2, 3, Kaction, "wvv"},
};

enum {
	Orfork, Oexec, Oexits, Oawait, Oerrstr, O_errstr, O_wait, Owerrstr,
	Orendezvous, Osemacquire, Otsemacquire, Osemrelease, Osleep, Oalarm, Onsec, Onotify,
	Onoted, Osysr1, Obrk, Osegbrk, Osegattach, Osegdetach, Osegfree, Oopen,
	Ocreate, Oclose, Odup, Opipe, Oread, Owrite, Oseek, Oremove,
	Ofd2path, Ochdir, Opostnote, Oprobe, Owritefile, Oputenv, Otouch, Nops,
};

static char *argkinds = "isbavnchw";
static char *valuekinds = "isbavn";
static char *probes[] = { "segments", "fds", "errstr", "noteid", "buf", "env", "args", "procargs", "brk", nil };
static char *hmodes[] = { "cont", "dflt", "exit", "badarg", "none", nil };
enum { Hcont, Hdflt, Hexit, Hbadarg, Hnone };
static char *abases[] = { "text", "data", "bss", "end", "stack", "stacktop", nil };
static char *predef[] = { "pid", "ppid", nil };
static char *touchwords[] = { "r", "w", nil };
#define PROBEWORDS "segments|fds|errstr|noteid|buf|env|args|procargs|brk"

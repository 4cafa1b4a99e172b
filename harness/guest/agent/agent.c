/*
 * nhagent: the nine-harness guest agent.
 *
 * It reads a compiled program (the line format of harness/program.py),
 * performs it with real system calls and writes one framed trace record
 * per event (harness/trace/frame.py, harness/trace/schema.py).
 *
 *	nhagent [-o outfile] [-d dir] [-t] program-file
 *
 * The same file is built on the host against compat/ (see compat/libc.h);
 * there the system calls are answered by the golden model.
 *
 * Rules this file keeps:
 * - no malloc: everything lives in the static pool below (bss), so the
 *   break and the segment table the scenarios probe are the image's own;
 * - no print/fmt: numbers and JSON are formatted here, so the record bytes
 *   are the same on every build;
 * - per-process state lives on the stack (Proc), because rfork(RFMEM)
 *   shares data and bss but never the stack; the declared buffers live
 *   above end (one brk before the program runs) and are shared under RFMEM.
 *
 * Records follow the conventions in harness/model/syscalls.py.  Choices of
 * the agent's own:
 * - -o FILE is dup'ed onto fd 1, so the program sees the fd table (0, 1, 2)
 *   it would see on the console;
 * - exec ... c:B puts "progfile B proc seq step outfd dir agent ppid pid
 *   outpath key var=value..." (program.py quote()d) into /env/nhcont; an agent whose pid
 *   is that pid continues in B and first prints the exec record (ret 0,
 *   out.argv); anything else ignores it;
 * - $agent is argv[0] of the first start (the harness passes a full path),
 *   $dir the -d directory (default /tmp);
 * - notify h:badarg answers noted(99); touch reads/writes a 32-bit word;
 * - args and exec's out.argv abbreviate long strings and long lists (jarg,
 *   jargs): the model writes the same;
 * - after rfork(RFCFDG) a process has no fd of the agent's: each record
 *   opens the output (#c/cons, or the -o file), writes and closes it, so
 *   the fd table between statements is the program's alone;
 * - a record still too big for one frame keeps proc/seq/step/kind/op/ret/err
 *   and says "record too large for a frame" in out;
 * - nondet is always []: the model names what it cannot know;
 * - -t also sends the kernel's own syscall trace of every process of the
 *   program as "ktrace" records (see ktrace below).
 * Parser limits the Python parser does not have (rejected with a reason):
 * NUL bytes, a program over ~39 MiB, step numbers over 18 digits, more than
 * 200000 tokens on a line, Maxstmts/Maxbufs/Maxblocks/Maxvars below.
 */
#include <u.h>
#include <libc.h>

/* The memory a note handler or a touch step reads and writes: a 32-bit word. */
#ifndef NHPEEK
#define NHPEEK(a)	(*(u32int*)(a))
#define NHPOKE(a, v)	(*(u32int*)(a) = (v))
#endif

/*
 * A process with no output fd (after rfork(RFCFDG)) opens the output for
 * one record (see emit).  The host build answers these itself: they are the
 * agent's, not the program's, system calls.
 */
#ifndef NHOPENOUT
#define NHOPENOUT()	openout()
#define NHCLOSEOUT(fd)	close(fd)
static int	openout(void);
#endif

extern int	sysr1(void);
extern int	_errstr(char*);
extern int	_wait(void*);	/* the pre-await _WAIT call: libc has the stub, no prototype */
extern int	brk_(void*);
extern vlong	_nsec(void);
#ifndef NHCLOCK
#define NHCLOCK()	_nsec()	/* the agent's own clock; the host build's _nsec is the model's answer */
#endif

/*
 * The pool holds the program text and its tokens (bss: pages cost nothing
 * until touched).  On arm64 (and mips) it is 8 MiB: 7l (9front 027f579f4)
 * reaches statics as R28 (setSB) plus an add of a 12-bit immediate shifted
 * by 12, silently dropping offset bits above 24, and orders bss by symbol
 * hash, so with a bigger pool some statics land 16 MiB or more above setSB
 * and are read from the wrong address (the harness refuses such a binary:
 * harness/guest/build.py check_agent_image).  A program too large for the
 * static pool gets a pool of its own instead: a segattach'd "memory" segment
 * (bigpool), placed by the kernel below the stack.  The model does not know
 * that segment, so a scenario with such a program must not probe the segment
 * table (the corpus's three 16 MiB-argument exec scenarios do not).  The
 * host build keeps 40 MiB so CI runs those scenarios through the static
 * pool.
 */
#ifdef NH_COMPAT_LIBC_H
#define	POOLSIZE	(40*1024*1024)
#else
#ifdef FPDAZ	/* only amd64's u.h defines it: the 16 MiB-argument scenarios need 40 MiB */
#define	POOLSIZE	(40*1024*1024)
#endif
#endif
#ifndef POOLSIZE
#define	POOLSIZE	(8*1024*1024)
#endif

enum {
	Poolsize	= POOLSIZE,
	Maxtoks		= 200000,	/* tokens on one program line */
	Maxbufs		= 256,
	Maxblocks	= 512,
	Maxstmts	= 16384,
	Maxvars		= 256,
	Maxframe	= 1000000+128,	/* one frame (frame.py MAX_PAYLOAD), built on the stack */
	Maxout		= 512*1024,	/* a record's out object; stack use stays well under mips' 8 MiB */
	Maxseg		= 4096,		/* /proc/N/segment text */
	Errmax		= 128,
};

/* The op table, its enum and the word lists: generated from harness/ops. */
#include "ops.h"

typedef struct Arg Arg;
struct Arg {
	char	kind;
	char	*text;	/* after "k:"; the token is text-2 */
	char	*val;	/* s: with $agent/$dir expanded */
	int	ref;	/* b: buffer index; c: block index; v: var index; h: mode; a: base (see resolve) */
	vlong	off;	/* b:/a: offset */
	int	absbase;	/* a: base is a number (in off2) */
	uvlong	base;
};

typedef struct Stmt Stmt;
struct Stmt {
	vlong	step;
	int	line;
	int	op;
	Arg	*args;
	int	nargs;
	int	result;	/* var index or -1 */
	char	**argv;	/* exec: room for the argument vector */
};

typedef struct Block Block;
struct Block {
	char	*name;
	int	first;
	int	n;
	int	live;
};

typedef struct Buf Buf;
struct Buf {
	char	*name;
	uchar	*data;
	long	size;
	int	live;
};

typedef struct Proc Proc;
struct Proc {
	char	name[48];
	long	seq;
	int	pid;
	int	ppid;
	int	outfd;	/* -1: no fd of ours (after RFCFDG), see emit */
	Stmt	*cur;		/* statement being performed (for note records) */
	int	hmode;
	uvlong	vals[Maxvars];
	int	argc;
	char	**argv;
};

typedef struct Str Str;
struct Str {
	char	*s;
	char	*p;
	char	*e;
	int	over;
};

/* the pool and the program, read-only once parsed */
static uchar	poolmem[Poolsize];
static uchar	*pool = poolmem;
static long	poolsize = Poolsize;
static long	npool;
static char	*toks[Maxtoks];
static Stmt	stmts[Maxstmts];
static int	nstmts;
static Block	blocks[Maxblocks];
static int	nblocks;
static Buf	bufs[Maxbufs];
static int	nbufs;
static char	*vars[Maxvars];
static int	nvars;
static int	scenarioseen;
static vlong	steps[Maxstmts];
static int	nsteps;

static char	*progfile = "";
static char	*agentpath = "";
static char	*scratchdir = "/tmp";
static char	*outpath = "#c/cons";	/* reopened per record by a process with no output fd */
static int	outappend;	/* outpath is the -o file: seek to its end */
static void	**procslot;	/* privalloc: this process's Proc, for the note handler */
static char	errmsg[512];
static u32int	crctab[256];

static void	fail(int, char*, char*, char*);

/* ---- small string helpers (no fmt) ---- */

static void
sinit(Str *s, char *buf, long n)
{
	s->s = s->p = buf;
	s->e = buf + n - 1;
	s->over = 0;
	*s->p = 0;
}

static void
saddn(Str *s, char *t, long n)
{
	while(n-- > 0){
		if(s->p >= s->e){
			s->over = 1;
			break;
		}
		*s->p++ = *t++;
	}
	*s->p = 0;
}

static void
sadd(Str *s, char *t)
{
	saddn(s, t, strlen(t));
}

static void
sputc(Str *s, int c)
{
	char b;

	b = c;
	saddn(s, &b, 1);
}

static void
suint(Str *s, uvlong v)
{
	char b[32];
	int i;

	i = sizeof b;
	do{
		b[--i] = '0' + (int)(v % 10);
		v /= 10;
	}while(v != 0);
	saddn(s, b+i, sizeof b - i);
}

static void
sint(Str *s, vlong v)
{
	if(v < 0){
		sputc(s, '-');
		suint(s, -(uvlong)v);
	}else
		suint(s, v);
}

static void
shex(Str *s, uvlong v, int width)
{
	char b[32];
	int i;

	i = sizeof b;
	do{
		b[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
		width--;
	}while(v != 0 || width > 0);
	saddn(s, b+i, sizeof b - i);
}

/* Python's repr() of a str, for error messages (ASCII exact, close otherwise). */
static void
srepr(Str *s, char *t)
{
	int q;
	uchar c;

	q = '\'';
	if(strchr(t, '\'') != nil && strchr(t, '"') == nil)
		q = '"';
	sputc(s, q);
	for(; *t; t++){
		c = *t;
		if(c == '\\' || c == q){
			sputc(s, '\\');
			sputc(s, c);
		}else if(c == '\t')
			sadd(s, "\\t");
		else if(c == '\n')
			sadd(s, "\\n");
		else if(c == '\r')
			sadd(s, "\\r");
		else if(c < 0x20 || c == 0x7f){
			sadd(s, "\\x");
			shex(s, c, 2);
		}else
			sputc(s, c);
	}
	sputc(s, q);
}

/* Python's quote(): what tokenize reads back as TOK */
static void
squote(Str *s, char *t)
{
	if(*t != 0 && strpbrk(t, " \t\r\n'") == nil){
		sadd(s, t);
		return;
	}
	sputc(s, '\'');
	for(; *t; t++){
		if(*t == '\'')
			sputc(s, '\'');
		sputc(s, *t);
	}
	sputc(s, '\'');
}

/* split S in place at blanks; at most MAX fields */
static int
splitws(char *s, char **f, int max)
{
	int n;

	n = 0;
	for(;;){
		while(*s == ' ' || *s == '\t')
			*s++ = 0;
		if(*s == 0 || n >= max)
			return n;
		f[n++] = s;
		while(*s != 0 && *s != ' ' && *s != '\t')
			s++;
	}
}

static void*
palloc(long n)
{
	void *p;

	n = (n + 7) & ~7;
	if(npool + n > poolsize)
		fail(0, "program too large for the agent's pool", nil, nil);
	p = pool + npool;
	npool += n;
	return p;
}

static char*
pstrdup(char *s)
{
	char *p;
	long n;

	n = strlen(s) + 1;
	p = palloc(n);
	memmove(p, s, n);
	return p;
}

static int
lookup(char **tab, char *s)
{
	int i;

	for(i = 0; tab[i] != nil; i++)
		if(strcmp(tab[i], s) == 0)
			return i;
	return -1;
}

/* ---- output: JSON records in frames ---- */

static void
mkcrctab(void)
{
	u32int c;
	int i, k;

	for(i = 0; i < 256; i++){
		c = i;
		for(k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320 ^ (c >> 1) : c >> 1;
		crctab[i] = c;
	}
}

/*
 * The run's frame key (-k, frame.py "The frame key"): the CRC covers the key,
 * then the frame, so output a scenario wrote itself never verifies as a record.
 */
static char	*framekey = "";
static u32int	crcstart = 0xffffffff;

static void
setframekey(char *k)
{
	u32int c;
	uchar *p;

	framekey = k;
	c = 0xffffffff;
	for(p = (uchar*)k; *p != 0; p++)
		c = crctab[(c ^ *p) & 0xff] ^ (c >> 8);
	crcstart = c;
}

static u32int
crc32(uchar *p, long n)
{
	u32int c;

	c = crcstart;
	while(n-- > 0)
		c = crctab[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffff;
}

static void
ju(Str *s, int r)
{
	sadd(s, "\\u");
	shex(s, r, 4);
}

/*
 * A JSON string, ASCII only: UTF-8 becomes \uXXXX (surrogate pairs above
 * U+FFFF).  A byte that is not part of valid UTF-8 becomes \u00XX (its
 * Latin-1 reading), so kernel bytes are never lost.
 */
static void
jstrn(Str *s, char *t, long n)
{
	uchar *p, *e;
	long r;
	int len, i;

	p = (uchar*)t;
	e = p + n;
	sputc(s, '"');
	while(p < e){
		if(*p == '"' || *p == '\\'){
			sputc(s, '\\');
			sputc(s, *p++);
			continue;
		}
		if(*p >= 0x20 && *p < 0x7f){
			sputc(s, *p++);
			continue;
		}
		if(*p < 0x80){
			ju(s, *p++);
			continue;
		}
		len = 0;
		r = 0;
		if((*p & 0xe0) == 0xc0){ len = 2; r = *p & 0x1f; }
		else if((*p & 0xf0) == 0xe0){ len = 3; r = *p & 0x0f; }
		else if((*p & 0xf8) == 0xf0){ len = 4; r = *p & 0x07; }
		if(len == 0 || p + len > e){
			ju(s, *p++);
			continue;
		}
		for(i = 1; i < len; i++){
			if((p[i] & 0xc0) != 0x80)
				break;
			r = (r << 6) | (p[i] & 0x3f);
		}
		if(i < len || (len == 2 && r < 0x80) || (len == 3 && r < 0x800) || (len == 4 && r < 0x10000)
		|| r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff)){
			ju(s, *p++);
			continue;
		}
		p += len;
		if(r >= 0x10000){
			r -= 0x10000;
			ju(s, 0xd800 + (int)(r >> 10));
			ju(s, 0xdc00 + (int)(r & 0x3ff));
		}else
			ju(s, r);
	}
	sputc(s, '"');
}

static void
jstr(Str *s, char *t)
{
	if(t == nil)
		sadd(s, "null");
	else
		jstrn(s, t, strlen(t));
}

/*
 * An argument as records show it (args, and exec's out.argv): a string of
 * more than Longarg bytes is its first Arghead bytes (backed off to the
 * start of a UTF-8 sequence the cut would split), then "...(N bytes)", N the
 * full length.  Megabyte arguments would not fit a frame, and the serial
 * console writes about 11 KB a second.
 */
enum { Longarg = 200, Arghead = 64, Longlist = 64, Listhead = 32 };

static void
jarg(Str *s, char *t)
{
	long n, k;
	char num[64];
	Str ns;

	n = strlen(t);
	if(n <= Longarg){
		jstrn(s, t, n);
		return;
	}
	k = Arghead;
	while(k > 0 && ((uchar)t[k] & 0xc0) == 0x80)
		k--;
	sinit(&ns, num, sizeof num);
	sadd(&ns, "...(");
	sint(&ns, n);
	sadd(&ns, " bytes)");
	jstrn(s, t, k);
	if(s->over)
		return;
	s->p--;	/* reopen the string: the marker belongs to it */
	saddn(s, num, ns.p - ns.s);
	sputc(s, '"');
}

static char*
argtoken(void *v, int i)
{
	return ((Arg*)v)[i].text - 2;
}

static char*
argvstr(void *v, int i)
{
	return ((char**)v)[i];
}

/*
 * A list of arguments: more than Longlist entries are the first Listhead
 * (each as jarg), then one string "...(N args)", N the full count.
 */
static void
jargs(Str *s, void *v, int n, char *(*get)(void*, int))
{
	int i, m;
	char num[64];
	Str ns;

	m = n > Longlist ? Listhead : n;
	sputc(s, '[');
	for(i = 0; i < m; i++){
		if(i > 0)
			sputc(s, ',');
		jarg(s, get(v, i));
	}
	if(m < n){
		sinit(&ns, num, sizeof num);
		sadd(&ns, "...(");
		sint(&ns, n);
		sadd(&ns, " args)");
		sputc(s, ',');
		jstrn(s, num, ns.p - ns.s);
	}
	sputc(s, ']');
}

static void
jkey(Str *s, char *k)
{
	if(s->p > s->s && s->p[-1] != '{' && s->p[-1] != '[')
		sputc(s, ',');
	jstr(s, k);
	sputc(s, ':');
}

static void
jhex(Str *s, uchar *p, long n)
{
	sputc(s, '"');
	while(n-- > 0)
		shex(s, *p++, 2);
	sputc(s, '"');
}

/*
 * A record being built: the JSON payload goes to rec.out, starting after
 * room for the frame header so the whole frame is written by one write().
 */
typedef struct Rec Rec;
struct Rec {
	char	*buf;
	Str	out;	/* the "out" object's members */
	char	outbuf[Maxout];
	int	isret;
	vlong	ret;
	char	*err;
	char	errbuf[Errmax*2];
};

static void
recinit(Rec *r)
{
	sinit(&r->out, r->outbuf, sizeof r->outbuf);
	sputc(&r->out, '{');
	r->isret = 0;
	r->ret = 0;
	r->err = nil;
}

static void
setret(Rec *r, vlong v)
{
	r->isret = 1;
	r->ret = v;
	if(v == -1){
		r->errbuf[0] = 0;
		rerrstr(r->errbuf, sizeof r->errbuf);
		r->err = r->errbuf;
	}
}

static void
emit(Proc *p, Stmt *st, char *kind, char *op, Rec *r)
{
	char frame[Maxframe], hdr[96];
	Str s, h;
	int hl, fd;
	long n;
	char *pay;
	u32int crc;

	sinit(&s, frame + sizeof hdr, sizeof frame - sizeof hdr - 16);
	sadd(&s, "{\"proc\":");
	jstr(&s, p->name);
	sadd(&s, ",\"seq\":");
	sint(&s, p->seq);
	sadd(&s, ",\"step\":");
	sint(&s, st != nil ? st->step : 0);
	sadd(&s, ",\"kind\":");
	jstr(&s, kind);
	sadd(&s, ",\"op\":");
	jstr(&s, op);
	sadd(&s, ",\"args\":");
	jargs(&s, st != nil ? st->args : nil, st != nil ? st->nargs : 0, argtoken);
	sadd(&s, ",\"ret\":");
	if(r->isret)
		sint(&s, r->ret);
	else
		sadd(&s, "null");
	sadd(&s, ",\"err\":");
	jstr(&s, r->err);
	sadd(&s, ",\"out\":");
	if(r->out.over){
		sadd(&s, "{\"agent-error\":\"out too large for the agent\"}");
	}else{
		sadd(&s, r->out.s);
		sputc(&s, '}');
	}
	sadd(&s, ",\"nondet\":[]}");
	if(s.over){
		sinit(&s, frame + sizeof hdr, sizeof frame - sizeof hdr - 16);
		sadd(&s, "{\"proc\":");
		jstr(&s, p->name);
		sadd(&s, ",\"seq\":");
		sint(&s, p->seq);
		sadd(&s, ",\"step\":");
		sint(&s, st != nil ? st->step : 0);
		sadd(&s, ",\"kind\":");
		jstr(&s, kind);
		sadd(&s, ",\"op\":");
		jstr(&s, op);
		/* args and out do not fit a frame: keep what the call did */
		sadd(&s, ",\"ret\":");
		if(r->isret)
			sint(&s, r->ret);
		else
			sadd(&s, "null");
		sadd(&s, ",\"err\":");
		jstr(&s, r->err);
		sadd(&s, ",\"out\":{\"agent-error\":\"record too large for a frame\"}}");
	}
	pay = s.s;
	n = s.p - s.s;
	sinit(&h, hdr, sizeof hdr);
	sadd(&h, "\001NH1 ");
	sadd(&h, p->name);
	sputc(&h, ' ');
	suint(&h, p->seq);
	sputc(&h, ' ');
	suint(&h, n);
	sputc(&h, ' ');
	hl = h.p - h.s;
	memmove(pay - hl, hdr, hl);
	crc = crc32((uchar*)pay - hl + 1, hl - 1 + n);
	sinit(&s, pay + n, 16);
	sputc(&s, ' ');
	shex(&s, crc, 8);
	sadd(&s, "\002\n");
	/*
	 * After rfork(RFCFDG) the process has no output fd, and keeping one
	 * would change the fd table the program probes.  It opens the output
	 * for this one record and closes it again: between two statements
	 * the fd table is the program's own.
	 */
	fd = p->outfd;
	if(fd < 0)
		fd = NHOPENOUT();
	if(fd >= 0)
		write(fd, pay - hl, hl + n + 11);
	if(p->outfd < 0 && fd >= 0)
		NHCLOSEOUT(fd);
	p->seq++;
}

#ifndef NH_COMPAT_LIBC_H
static int
openout(void)
{
	int fd;

	fd = open(outpath, OWRITE);
	if(fd >= 0 && outappend)
		seek(fd, 0, 2);
	return fd;
}
#endif

/* ---- the program file ---- */

/* Decode one UTF-8 rune strictly (Python's utf-8 codec); -1 if invalid. */
static int
runeat(uchar *p, uchar *e, long *r)
{
	int len, i;
	long v;

	if(*p < 0x80){
		*r = *p;
		return 1;
	}
	if((*p & 0xe0) == 0xc0){ len = 2; v = *p & 0x1f; }
	else if((*p & 0xf0) == 0xe0){ len = 3; v = *p & 0x0f; }
	else if((*p & 0xf8) == 0xf0){ len = 4; v = *p & 0x07; }
	else return -1;
	if(p + len > e)
		return -1;
	for(i = 1; i < len; i++){
		if((p[i] & 0xc0) != 0x80)
			return -1;
		v = (v << 6) | (p[i] & 0x3f);
	}
	if((len == 2 && v < 0x80) || (len == 3 && v < 0x800) || (len == 4 && v < 0x10000)
	|| v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return -1;
	*r = v;
	return len;
}

/* str.isspace() */
static int
pyisspace(long r)
{
	return (r >= 0x09 && r <= 0x0d) || (r >= 0x1c && r <= 0x20) || r == 0x85 || r == 0xa0
		|| r == 0x1680 || (r >= 0x2000 && r <= 0x200a) || r == 0x2028 || r == 0x2029
		|| r == 0x202f || r == 0x205f || r == 0x3000;
}

static int
issep(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The Python twin of tokenize (program.py): in place, returns the count. */
static int
tokenize1(char *r, char *e, int lineno)
{
	int n, quoting;
	char *w;

	n = 0;
	for(;;){
		while(r < e && issep(*r))
			r++;
		if(r >= e)
			break;
		if(n >= Maxtoks)
			fail(lineno, "too many tokens on one line for the agent", nil, nil);
		toks[n++] = w = r;
		quoting = 0;
		while(r < e){
			if(!quoting && issep(*r))
				break;
			if(*r == '\''){
				if(quoting && r+1 < e && r[1] == '\''){
					*w++ = '\'';
					r += 2;
					continue;
				}
				quoting = !quoting;
				r++;
				continue;
			}
			*w++ = *r++;
		}
		if(r < e){
			*w = 0;
			r++;
		}else
			*w = 0;
	}
	return n;
}

static int
isname(char *s)
{
	if(!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
		return 0;
	for(s++; *s; s++)
		if(!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

static int
isdec(char *s)
{
	if(*s == 0)
		return 0;
	for(; *s; s++)
		if(*s < '0' || *s > '9')
			return 0;
	return 1;
}

static int
ishexdigit(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int
hexval(int c)
{
	if(c >= '0' && c <= '9')
		return c - '0';
	if(c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return c - 'A' + 10;
}

/* (0x[0-9a-fA-F]+|[0-9]+) */
static int
isnum(char *s)
{
	if(s[0] == '0' && s[1] == 'x'){
		if(s[2] == 0)
			return 0;
		for(s += 2; *s; s++)
			if(!ishexdigit(*s))
				return 0;
		return 1;
	}
	return isdec(s);
}

/* _INT: -?NUM */
static int
isint(char *s)
{
	if(*s == '-')
		s++;
	return isnum(s);
}

/* program.py fits64: a number token (isint) is a vlong or a uvlong */
static int
fits64(char *s)
{
	char *max;
	int neg, hex, n, m, i, c;

	neg = *s == '-';
	if(neg)
		s++;
	hex = s[0] == '0' && s[1] == 'x';
	if(hex)
		s += 2;
	while(*s == '0')
		s++;
	if(hex)
		max = neg ? "8000000000000000" : "ffffffffffffffff";
	else
		max = neg ? "9223372036854775808" : "18446744073709551615";
	n = strlen(s);
	m = strlen(max);
	if(n != m)
		return n < m;
	for(i = 0; i < n; i++){
		c = s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 'a' : s[i];
		if(c != max[i])
			return c < max[i];
	}
	return 1;
}

/* parse_int, wrapping to 64 bits */
static uvlong
intval(char *s)
{
	int neg;
	uvlong v;

	neg = 0;
	if(*s == '-'){
		neg = 1;
		s++;
	}
	v = 0;
	if(s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		for(s += 2; *s; s++)
			v = v*16 + hexval(*s);
	else
		for(; *s; s++)
			v = v*10 + (*s - '0');
	return neg ? -v : v;
}

/* _ADDR: (NAME|0xHEX|DEC)([+-](0xHEX|DEC))? */
static int
isaddr(char *s, char *base, int nbase, char **offp)
{
	char *p;
	int n;

	p = s;
	if((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_'){
		while((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')
			p++;
	}else if(p[0] == '0' && p[1] == 'x' && ishexdigit(p[2])){
		for(p += 2; ishexdigit(*p); p++)
			;
	}else if(*p >= '0' && *p <= '9'){
		while(*p >= '0' && *p <= '9')
			p++;
	}else
		return 0;
	n = p - s;
	if(n >= nbase)
		return 0;
	memmove(base, s, n);
	base[n] = 0;
	*offp = p;
	if(*p == 0)
		return 1;
	if(*p != '+' && *p != '-')
		return 0;
	return isnum(p+1);
}

static void
fail(int line, char *a, char *b, char *c)
{
	Str s;

	sinit(&s, errmsg, sizeof errmsg);
	sadd(&s, progfile);
	sputc(&s, ':');
	sint(&s, line);
	sadd(&s, ": ");
	sadd(&s, a);
	if(b != nil)
		sadd(&s, b);
	if(c != nil)
		sadd(&s, c);
	write(2, "nhagent: ", 9);
	write(2, errmsg, strlen(errmsg));
	write(2, "\n", 1);
	exits(errmsg);
}

/* fail with REASON1 repr(X) REASON2 */
static void
failr(int line, char *a, char *x, char *b)
{
	char buf[300];
	Str s;

	sinit(&s, buf, sizeof buf);
	sadd(&s, a);
	srepr(&s, x);
	if(b != nil)
		sadd(&s, b);
	fail(line, buf, nil, nil);
}

static int
findbuf(char *name)
{
	int i;

	for(i = 0; i < nbufs; i++)
		if(bufs[i].live && strcmp(bufs[i].name, name) == 0)
			return i;
	return -1;
}

static int
findblock(char *name)
{
	int i;

	for(i = 0; i < nblocks; i++)
		if(blocks[i].live && strcmp(blocks[i].name, name) == 0)
			return i;
	return -1;
}

static int
findvar(char *name)
{
	int i;

	for(i = 0; i < nvars; i++)
		if(strcmp(vars[i], name) == 0)
			return i;
	return -1;
}

static int
addvar(char *name)
{
	int i;

	i = findvar(name);
	if(i >= 0)
		return i;
	if(nvars >= Maxvars)
		fail(0, "too many variables for the agent", nil, nil);
	vars[nvars] = pstrdup(name);
	return nvars++;
}

/* s: text with $agent and $dir expanded (into the pool) */
static char*
expand(char *t)
{
	char *p, *q, *out;
	long n;

	if(strchr(t, '$') == nil)
		return t;
	n = 0;
	for(p = t; *p; p++){
		if(strncmp(p, "$agent", 6) == 0){
			n += strlen(agentpath);
			p += 5;
		}else if(strncmp(p, "$dir", 4) == 0){
			n += strlen(scratchdir);
			p += 3;
		}else
			n++;
	}
	out = q = palloc(n + 1);
	for(p = t; *p; p++){
		if(strncmp(p, "$agent", 6) == 0){
			strcpy(q, agentpath);
			q += strlen(agentpath);
			p += 5;
		}else if(strncmp(p, "$dir", 4) == 0){
			strcpy(q, scratchdir);
			q += strlen(scratchdir);
			p += 3;
		}else
			*q++ = *p;
	}
	*q = 0;
	return out;
}

static void
parsearg(Arg *a, char *tok, int line)
{
	char *colon, *plus, *off;
	char base[64];

	colon = strchr(tok, ':');
	if(colon == nil || colon != tok+1 || strchr(argkinds, tok[0]) == nil)
		failr(line, "argument ", tok, " has no known type prefix");
	a->kind = tok[0];
	a->text = tok + 2;
	a->val = a->text;
	a->ref = -1;
	a->off = 0;
	a->absbase = 0;
	a->base = 0;
	switch(a->kind){
	case 'i':
		if(!isint(a->text))
			failr(line, "bad integer ", a->text, nil);
		if(!fits64(a->text))
			failr(line, "integer ", a->text, " does not fit in 64 bits");
		break;
	case 'a':
		if(!isaddr(a->text, base, sizeof base, &off))
			failr(line, "bad address ", a->text, nil);
		if((!isname(base) && !fits64(base)) || (*off != 0 && !fits64(off+1)))
			failr(line, "address ", a->text, " does not fit in 64 bits");
		if(*off == '+')
			a->off = intval(off+1);	/* intval takes an optional '-' only */
		else if(*off != 0)
			a->off = intval(off);
		if(isname(base)){
			a->ref = -1;
			a->val = pstrdup(base);
		}else{
			a->absbase = 1;
			a->base = intval(base);
		}
		break;
	case 'b':
		plus = strchr(a->text, '+');
		if(plus != nil){
			*plus = 0;
			if(!isname(a->text) || (plus[1] != 0 && !isint(plus+1))){
				*plus = '+';
				failr(line, "bad buffer reference ", a->text, nil);
			}
			if(plus[1] != 0 && !fits64(plus+1)){
				*plus = '+';
				failr(line, "buffer offset ", plus+1, " does not fit in 64 bits");
			}
			a->val = pstrdup(a->text);
			*plus = '+';
			if(plus[1] != 0)
				a->off = intval(plus+1);
		}else if(!isname(a->text))
			failr(line, "bad buffer reference ", a->text, nil);
		break;
	case 'v':
	case 'c':
		if(!isname(a->text))
			failr(line, "bad name ", a->text, nil);
		break;
	case 'h':
		a->ref = lookup(hmodes, a->text);
		if(a->ref < 0)
			failr(line, "unknown handler mode ", a->text, nil);
		break;
	case 'n':
		if(a->text[0] != 0)
			fail(line, "n: takes no value", nil, nil);
		break;
	case 's':
		a->val = expand(a->text);
		break;
	}
}

/* The kinds argument I of OP may have (ops.h slots): as harness/program.py _parse_stmt. */
static void
checkslot(int op, int i, Arg *a, char *tok, int line)
{
	char *slots, *kinds, *what, buf[160];
	int n, j;
	Str s;

	slots = ops[op].slots;
	n = strlen(slots);
	j = n > 0 && slots[n-1] == '*' && i >= n-2 ? n-2 : i;
	switch(slots[j]){
	case 'c':	kinds = "c"; what = "a block (c:)"; break;
	case 'h':	kinds = "h"; what = "a handler mode (h:)"; break;
	case 'w':	kinds = "w"; what = "a word (w:)"; break;
	default:	kinds = valuekinds; what = "a value (i: s: b: a: v: n:)"; break;
	}
	if(strchr(kinds, a->kind) != nil)
		return;
	sinit(&s, buf, sizeof buf);
	sadd(&s, ops[op].name);
	sadd(&s, " argument ");
	suint(&s, i+1);
	sadd(&s, " takes ");
	sadd(&s, what);
	sadd(&s, ", not ");
	failr(line, pstrdup(buf), tok, nil);
}

static void
parsestmt(int ntok, int line)
{
	Stmt *st;
	int i, op, nargs, lo, hi;
	char *res, num[32];
	Str s;

	if(!isdec(toks[0]))
		failr(line, "statement must start with a step number, not ", toks[0], nil);
	if(strlen(toks[0]) > 18)
		fail(line, "step number too large for the agent", nil, nil);
	if(nstmts >= Maxstmts)
		fail(line, "too many statements for the agent", nil, nil);
	st = &stmts[nstmts];
	st->step = (vlong)intval(toks[0]);
	for(i = 0; i < nsteps; i++)
		if(steps[i] == st->step){
			sinit(&s, num, sizeof num);
			sint(&s, st->step);
			fail(line, "step ", num, " used twice");
		}
	steps[nsteps++] = st->step;
	if(ntok < 2)
		fail(line, "statement has no operation", nil, nil);
	op = -1;
	for(i = 0; i < Nops; i++)
		if(strcmp(ops[i].name, toks[1]) == 0)
			op = i;
	if(op < 0)
		failr(line, "unknown operation ", toks[1], nil);
	st->op = op;
	st->line = line;
	st->result = -1;
	st->argv = nil;
	nargs = ntok - 2;
	if(nargs > 0 && toks[ntok-1][0] == '>'){
		res = toks[ntok-1] + 1;
		if(!isname(res))
			failr(line, "bad result variable ", res, nil);
		st->result = addvar(res);
		nargs--;
	}
	st->args = palloc(nargs * sizeof(Arg));
	st->nargs = nargs;
	for(i = 0; i < nargs; i++)
		parsearg(&st->args[i], toks[i+2], line);
	lo = ops[op].min;
	hi = ops[op].max;
	if(nargs < lo || (hi >= 0 && nargs > hi)){
		sinit(&s, errmsg, sizeof errmsg);
		sadd(&s, ops[op].name);
		sadd(&s, " takes ");
		suint(&s, lo);
		if(lo != hi){
			sadd(&s, "..");
			if(hi >= 0)
				suint(&s, hi);
		}
		sadd(&s, " arguments, got ");
		suint(&s, nargs);
		fail(line, pstrdup(errmsg), nil, nil);
	}
	if(op == Oprobe && (st->args[0].kind != 'w' || lookup(probes, st->args[0].text) < 0))
		fail(line, "probe needs one of w:", PROBEWORDS, nil);
	if(op == Otouch && (st->args[0].kind != 'w' || lookup(touchwords, st->args[0].text) < 0))
		fail(line, "touch needs w:r or w:w", nil, nil);
	for(i = 0; i < nargs; i++)
		checkslot(op, i, &st->args[i], toks[i+2], line);
	if(op == Oexec)
		st->argv = palloc((nargs + 1) * sizeof(char*));
	nstmts++;
}

/* bytes.fromhex: pairs of hex digits, ASCII whitespace allowed between pairs */
static long
fromhex(char *t, uchar *out)
{
	long n;

	n = 0;
	while(*t != 0){
		if(*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r' || *t == 0x0b || *t == 0x0c){
			t++;
			continue;
		}
		if(!ishexdigit(t[0]) || !ishexdigit(t[1]))
			return -1;
		if(out != nil)
			out[n] = hexval(t[0])<<4 | hexval(t[1]);
		n++;
		t += 2;
	}
	return n;
}

static void
parseline(int ntok, int line, int *inblock, int *sawheader)
{
	char *head;
	int i;
	long n;
	Buf *b;
	Block *bl;

	head = toks[0];
	if(!*sawheader){
		if(strcmp(head, "nhprog") != 0 || ntok != 2 || strcmp(toks[1], "1") != 0)
			fail(line, "expected 'nhprog 1' header", nil, nil);
		*sawheader = 1;
		return;
	}
	if(strcmp(head, "scenario") == 0){
		if(ntok != 2)
			fail(line, "scenario takes one name", nil, nil);
		/* a new Program: earlier buffers and blocks are dropped (steps are not) */
		for(i = 0; i < nbufs; i++)
			bufs[i].live = 0;
		for(i = 0; i < nblocks; i++)
			blocks[i].live = 0;
		scenarioseen = 1;
		return;
	}
	if(!scenarioseen)
		fail(line, "'scenario NAME' must come before anything else", nil, nil);
	if(strcmp(head, "covers") == 0 && !*inblock)
		return;
	if((strcmp(head, "buf") == 0 || strcmp(head, "data") == 0) && !*inblock){
		if(ntok != 3 || !isname(toks[1]))
			fail(line, head, " takes NAME and one value", nil);
		if(findbuf(toks[1]) >= 0)
			failr(line, "buffer ", toks[1], " declared twice");
		if(nbufs >= Maxbufs)
			fail(line, "too many buffers for the agent", nil, nil);
		b = &bufs[nbufs];
		b->name = pstrdup(toks[1]);
		if(strcmp(head, "buf") == 0){
			if(!isdec(toks[2]))
				fail(line, "buf size must be a decimal number", nil, nil);
			if(strlen(toks[2]) > 9)
				fail(line, "buffer too large for the agent's pool", nil, nil);
			n = (long)intval(toks[2]);
			if(n > poolsize)
				fail(line, "buffer too large for the agent's pool", nil, nil);
			b->size = n;
			b->data = palloc(n + 1);
		}else{
			n = fromhex(toks[2], nil);
			if(n < 0)
				fail(line, "data must be hex bytes", nil, nil);
			b->size = n;
			b->data = palloc(n + 1);
			fromhex(toks[2], b->data);
		}
		b->live = 1;
		nbufs++;
		return;
	}
	if(strcmp(head, "block") == 0){
		if(*inblock)
			fail(line, "block inside block (missing 'end')", nil, nil);
		if(ntok != 2 || !isname(toks[1]))
			fail(line, "block takes one name", nil, nil);
		if(findblock(toks[1]) >= 0)
			failr(line, "block ", toks[1], " defined twice");
		if(nblocks >= Maxblocks)
			fail(line, "too many blocks for the agent", nil, nil);
		bl = &blocks[nblocks++];
		bl->name = pstrdup(toks[1]);
		bl->first = nstmts;
		bl->n = 0;
		bl->live = 1;
		*inblock = 1;
		return;
	}
	if(strcmp(head, "end") == 0){
		if(!*inblock)
			fail(line, "'end' outside a block", nil, nil);
		*inblock = 0;
		return;
	}
	if(*inblock){
		parsestmt(ntok, line);
		blocks[nblocks-1].n++;
		return;
	}
	failr(line, "unexpected ", head, " outside a block");
}

static void
checkrefs(void)
{
	int i, j, k;
	Stmt *st;
	Arg *a;
	char *name;
	static char defined[Maxvars];

	memset(defined, 0, sizeof defined);
	for(i = 0; i < nblocks; i++)
		if(blocks[i].live)
			for(j = 0; j < blocks[i].n; j++){
				st = &stmts[blocks[i].first + j];
				if(st->result >= 0)
					defined[st->result] = 1;
			}
	for(i = 0; i < nblocks; i++){
		if(!blocks[i].live)
			continue;
		for(j = 0; j < blocks[i].n; j++){
			st = &stmts[blocks[i].first + j];
			for(k = 0; k < st->nargs; k++){
				a = &st->args[k];
				switch(a->kind){
				case 'c':
					a->ref = findblock(a->text);
					if(a->ref < 0)
						failr(st->line, "no block ", a->text, nil);
					break;
				case 'b':
					a->ref = findbuf(a->val);
					if(a->ref < 0)
						failr(st->line, "no buffer ", a->val, nil);
					break;
				case 'v':
					a->ref = findvar(a->text);
					if((a->ref < 0 || !defined[a->ref]) && lookup(predef, a->text) < 0)
						failr(st->line, "variable ", a->text, " is never set");
					if(a->ref < 0)
						a->ref = addvar(a->text);
					break;
				case 'a':
					if(a->absbase)
						break;
					name = a->val;
					if(lookup(abases, name) >= 0)
						break;
					a->ref = findvar(name);
					if(a->ref < 0 || !defined[a->ref])
						failr(st->line, "unknown address base ", name, nil);
					break;
				}
			}
		}
	}
}

/* Parse the program text (NUL-terminated, in the pool; it is modified in place). */
static void
parse(char *text, long len)
{
	uchar *p, *e, *ls;
	long r;
	int n, line, inblock, sawheader, nt, c;
	uchar *q;

	p = (uchar*)text;
	e = p + len;
	line = 0;
	inblock = 0;
	sawheader = 0;
	while(p < e){
		line++;
		ls = p;
		/* find the end of this line: the format splits at newlines only (program.py lines) */
		for(;;){
			if(p >= e)
				break;	/* the text is NUL-terminated already */
			if(*p == 0)
				fail(line, "NUL byte in program (the agent cannot hold it)", nil, nil);
			n = runeat(p, e, &r);
			if(n < 0)
				fail(line, "program is not valid UTF-8", nil, nil);
			if(r == '\n'){
				*p++ = 0;
				break;
			}
			p += n;
		}
		/* whole-line comments: lstrip() then '#' */
		c = 0;
		for(q = ls; *q; q += n){
			n = runeat(q, e, &r);
			if(!pyisspace(r)){
				c = r == '#';
				break;
			}
		}
		if(c)
			continue;
		nt = tokenize1((char*)ls, (char*)ls + strlen((char*)ls), line);
		if(nt == 0)
			continue;
		parseline(nt, line, &inblock, &sawheader);
	}
	if(!sawheader || !scenarioseen)
		fail(1, "empty program", nil, nil);
	if(inblock)
		fail(line, "missing 'end' at end of program", nil, nil);
	if(findblock("main") < 0)
		fail(1, "no 'block main'", nil, nil);
	checkrefs();
	addvar("pid");
	addvar("ppid");
}

static long
readfile(char *path, char *buf, long max)
{
	int fd;
	long n, m;

	fd = open(path, OREAD);
	if(fd < 0)
		return -1;
	n = 0;
	while(n < max && (m = read(fd, buf+n, max-n)) > 0)
		n += m;
	close(fd);
	return n;
}

/*
 * A program too large for the static pool: room for its text, an expanded
 * copy of its longest strings and 4 MiB more, in a segment of its own (see
 * POOLSIZE).  Only then: the host build answers these calls from the model.
 */
static void
bigpool(void)
{
	vlong size, want;
	void *v;
	int fd;

	fd = open(progfile, OREAD);
	if(fd < 0)
		return;	/* loadprogram says why */
	size = seek(fd, 0, 2);
	close(fd);
	if(size < 0 || size + 1024*1024 < Poolsize)
		return;
	want = (2*size + 4*1024*1024 + 0xfffff) & ~0xfffffLL;
	v = segattach(0, "memory", nil, (ulong)want);
	if(v == (void*)-1){
		rerrstr(errmsg, sizeof errmsg);
		fail(0, "program file too large for the agent, and no segment for it: ", errmsg, nil);
	}
	pool = v;
	poolsize = (long)want;
	npool = 0;	/* anything palloc'd before stays valid in poolmem */
}

static void
loadprogram(void)
{
	char *text;
	long n, max;

	max = poolsize - 1024*1024;	/* the rest: arguments, names, buffer contents */
	text = (char*)pool + npool;
	n = readfile(progfile, text, max);
	if(n >= max && pool == poolmem){
		bigpool();
		max = poolsize - 1024*1024;
		text = (char*)pool + npool;
		n = readfile(progfile, text, max);
	}
	if(n < 0){
		rerrstr(errmsg, sizeof errmsg);
		fail(0, "cannot read program: ", errmsg, nil);
	}
	if(n >= max)
		fail(0, "program file too large for the agent", nil, nil);
	text[n] = 0;
	npool += (n + 8) & ~7;
	parse(text, n);
}

/* ---- run time ---- */

static void	runblock(Proc*, int);
static void	endrec(Proc*);
static void	setpids(Proc*);

static char*
pidpath(Proc *p, char *buf, long n, char *file)
{
	Str s;

	sinit(&s, buf, n);
	sadd(&s, "/proc/");
	suint(&s, p->pid);
	sputc(&s, '/');
	sadd(&s, file);
	return buf;
}

typedef struct Seg Seg;
struct Seg {
	char	name[16];
	char	flags[4];
	uvlong	base;
	uvlong	top;
	long	ref;
};

/*
 * This process's /proc/N/segment (devproc.c: "%-6s %c%c %8p %8p %4ld"):
 * the name, two flag columns (blank, R or F; blank or P), base, top, ref.
 */
static int
segments(Proc *p, Seg *sg, int max)
{
	char path[64], raw[Maxseg];
	long n;
	int nt, i, ns, col;
	char *l, *nl, *f[8];
	Seg *s;

	n = readfile(pidpath(p, path, sizeof path, "segment"), raw, sizeof raw - 1);
	if(n < 0)
		return -1;
	raw[n] = 0;
	ns = 0;
	for(l = raw; *l && ns < max; l = nl){
		nl = strchr(l, '\n');
		if(nl != nil)
			*nl++ = 0;
		else
			nl = l + strlen(l);
		for(col = 0; l[col] != 0 && l[col] != ' '; col++)
			;
		if(col == 0 || col >= (int)sizeof s->name)
			continue;
		s = &sg[ns];
		memmove(s->name, l, col);
		s->name[col] = 0;
		if(col < 6)
			col = 6;
		if((long)strlen(l) < col + 3)
			continue;
		i = 0;
		if(l[col+1] != ' ')
			s->flags[i++] = l[col+1];
		if(l[col+2] != ' ')
			s->flags[i++] = l[col+2];
		s->flags[i] = 0;
		nt = splitws(l + col + 3, f, nelem(f));
		if(nt < 3)
			continue;
		s->base = strtoull(f[0], nil, 16);
		s->top = strtoull(f[1], nil, 16);
		s->ref = strtol(f[2], nil, 10);
		ns++;
	}
	return ns;
}

/* The named segment's base or top from /proc/N/segment; 0 if none. */
static uvlong
segaddr(Proc *p, char *name, int top)
{
	Seg sg[32];
	int i, n;

	n = segments(p, sg, nelem(sg));
	for(i = 0; i < n; i++)
		if(strcmp(sg[i].name, name) == 0)
			return top ? sg[i].top : sg[i].base;
	return 0;
}

static uvlong
value(Proc *p, Arg *a)
{
	uvlong base;
	int b;

	switch(a->kind){
	case 'i':
		return intval(a->text);
	case 'v':
		return p->vals[a->ref];
	case 's':
		return (uvlong)(uintptr)a->val;
	case 'b':
		return (uvlong)(uintptr)(bufs[a->ref].data + a->off);
	case 'a':
		if(a->absbase)
			base = a->base;
		else{
			b = lookup(abases, a->val);
			switch(b){
			case 0: base = segaddr(p, "Text", 0); break;
			case 1: base = segaddr(p, "Data", 0); break;
			case 2: base = segaddr(p, "Bss", 0); break;
			case 3: base = segaddr(p, "Bss", 1); break;
			case 4: base = segaddr(p, "Stack", 0); break;
			case 5: base = segaddr(p, "Stack", 1); break;
			default: base = p->vals[findvar(a->val)]; break;
			}
		}
		return base + a->off;
	}
	return 0;
}

#define PTR(p, a)	((void*)(uintptr)value(p, a))

static vlong
ptrret(void *v)
{
	if(v == (void*)-1)
		return -1;
	return (vlong)(uintptr)v;
}

static void
cstrout(Rec *r, char *key, char *b, long max)
{
	long n;

	for(n = 0; n < max && b[n] != 0; n++)
		;
	jkey(&r->out, key);
	jstrn(&r->out, b, n);
}

static void
notehandler(void *ureg, char *note)
{
	Proc *p;
	Rec r;

	USED(ureg);
	p = *procslot;
	recinit(&r);
	jkey(&r.out, "note");
	jstr(&r.out, note);
	emit(p, p->cur, "note", "note", &r);
	switch(p->hmode){
	case Hcont:
		noted(NCONT);
		break;
	case Hexit:
		exits(note);
		break;
	case Hbadarg:
		noted(99);
		break;
	default:
		noted(NDFLT);
		break;
	}
}

/*
 * nhcont: "progfile block proc seq step outfd dir agent ppid pid outpath key var=value...",
 * quoted as program.py quote() does.  pid guards against a stale value:
 * exec keeps the pid, so only the exec'd image itself takes it.
 */
static void
setcont(Proc *p, Stmt *st, int block)
{
	char buf[8192];
	Str s;
	int i;

	sinit(&s, buf, sizeof buf);
	squote(&s, progfile);
	sputc(&s, ' ');
	sadd(&s, blocks[block].name);
	sputc(&s, ' ');
	sadd(&s, p->name);
	sputc(&s, ' ');
	suint(&s, p->seq);
	sputc(&s, ' ');
	sint(&s, st->step);
	sputc(&s, ' ');
	sint(&s, p->outfd);
	sputc(&s, ' ');
	squote(&s, scratchdir);
	sputc(&s, ' ');
	squote(&s, agentpath);
	sputc(&s, ' ');
	suint(&s, p->ppid);
	sputc(&s, ' ');
	suint(&s, p->pid);
	sputc(&s, ' ');
	squote(&s, outpath);
	sputc(&s, ' ');
	squote(&s, framekey);
	for(i = 0; i < nvars; i++){
		sputc(&s, ' ');
		sadd(&s, vars[i]);
		sputc(&s, '=');
		suint(&s, p->vals[i]);
	}
	putenv("nhcont", buf);
}

/*
 * /proc/N/fd: the first line is dot; then one line per fd
 * (devproc.c procfdprint: "%3d %.2s %C %4ld (%.16llux %lud %.2ux) %5ld %8lld %s").
 * The fd this probe reads through is the agent's, not the program's: skipped.
 */
static void
fdprobe(Proc *p, Rec *r)
{
	char raw[65536], path[64], *l, *nl, *rest;
	int fd, n, first, i, myfd;
	long len, m;

	myfd = open(pidpath(p, path, sizeof path, "fd"), OREAD);
	if(myfd < 0)
		return;
	len = 0;
	while(len < (long)sizeof raw - 1 && (m = read(myfd, raw+len, sizeof raw - 1 - len)) > 0)
		len += m;
	close(myfd);
	raw[len] = 0;
	jkey(&r->out, "fds");
	sputc(&r->out, '[');
	first = 1;
	n = 0;
	for(l = raw; *l; l = nl){
		nl = strchr(l, '\n');
		if(nl != nil)
			*nl++ = 0;
		else
			nl = l + strlen(l);
		if(n++ == 0 || strlen(l) < 8)
			continue;	/* dot */
		fd = atoi(l);
		if(fd == myfd)
			continue;
		/*
		 * the mode is "r ", "w ", "rw" or, for OEXEC, empty (then the
		 * line has two characters fewer); the path follows 7 more fields
		 */
		if(l[4] == ' '){
			path[0] = 0;
			rest = l + 5;
		}else{
			path[0] = l[4];
			path[1] = l[5] == ' ' ? 0 : l[5];
			path[2] = 0;
			rest = l + 7;
		}
		for(i = 0; i < 7; i++){
			while(*rest == ' ')
				rest++;
			while(*rest != 0 && *rest != ' ')
				rest++;
		}
		if(*rest == ' ')
			rest++;
		if(!first)
			sputc(&r->out, ',');
		first = 0;
		sputc(&r->out, '[');
		sint(&r->out, fd);
		sputc(&r->out, ',');
		jstr(&r->out, path);
		sputc(&r->out, ',');
		jstr(&r->out, rest);
		sputc(&r->out, ']');
	}
	sputc(&r->out, ']');
}

static void
probe(Proc *p, Stmt *st, Rec *r)
{
	char buf[Maxseg], path[512];
	int which, i, n;
	long len;
	Arg *a;
	Seg sg[32];
	uchar *data;
	Str s;

	which = lookup(probes, st->args[0].text);
	switch(which){
	case 0:	/* segments: [[NAME, FLAGS, BASE, TOP, REF], ...] */
		n = segments(p, sg, nelem(sg));
		if(n < 0)
			break;
		jkey(&r->out, "segments");
		sputc(&r->out, '[');
		for(i = 0; i < n; i++){
			if(i > 0)
				sputc(&r->out, ',');
			sputc(&r->out, '[');
			jstr(&r->out, sg[i].name);
			sputc(&r->out, ',');
			jstr(&r->out, sg[i].flags);
			sputc(&r->out, ',');
			suint(&r->out, sg[i].base);
			sputc(&r->out, ',');
			suint(&r->out, sg[i].top);
			sputc(&r->out, ',');
			sint(&r->out, sg[i].ref);
			sputc(&r->out, ']');
		}
		sputc(&r->out, ']');
		break;
	case 1:	/* fds: [[FD, MODE, PATH], ...] from /proc/N/fd, without our own fd */
		fdprobe(p, r);
		break;
	case 2:	/* errstr */
		buf[0] = 0;
		rerrstr(buf, Errmax);
		jkey(&r->out, "errstr");
		jstr(&r->out, buf);
		break;
	case 3:	/* noteid */
		len = readfile(pidpath(p, path, sizeof path, "noteid"), buf, 64);
		if(len < 0)
			break;
		buf[len] = 0;
		jkey(&r->out, "noteid");
		sint(&r->out, strtoll(buf, nil, 10));
		break;
	case 4:	/* buf NAME [N]: N bytes (default: to the buffer's end), at most 64 KiB */
		a = &st->args[1];
		data = PTR(p, a);
		len = 0;
		if(a->kind == 'b')
			len = bufs[a->ref].size - (long)a->off;
		if(st->nargs > 2)
			len = (long)value(p, &st->args[2]);
		if(len < 0)
			len = 0;
		if(len > 65536)
			len = 65536;
		jkey(&r->out, "hex");
		jhex(&r->out, data, len);
		break;
	case 5:	/* env NAME */
		sinit(&s, path, sizeof path);
		sadd(&s, "/env/");
		sadd(&s, st->args[1].val);
		len = readfile(path, buf, sizeof buf - 1);
		jkey(&r->out, "value");
		if(len < 0)
			sadd(&r->out, "null");
		else
			jstrn(&r->out, buf, len);
		break;
	case 6:	/* args */
		jkey(&r->out, "args");
		sputc(&r->out, '[');
		for(i = 0; i < p->argc; i++){
			if(i > 0)
				sputc(&r->out, ',');
			jstr(&r->out, p->argv[i]);
		}
		sputc(&r->out, ']');
		break;
	case 7:	/* procargs */
		len = readfile(pidpath(p, path, sizeof path, "args"), buf, sizeof buf - 1);
		if(len < 0)
			break;
		jkey(&r->out, "procargs");
		jstrn(&r->out, buf, len);
		break;
	case 8:	/* brk: the top of the Bss segment */
		jkey(&r->out, "brk");
		suint(&r->out, segaddr(p, "Bss", 1));
		break;
	}
}

static void
childstart(Proc *p, Stmt *st, int block)
{
	Str s;
	Rec r;

	p->ppid = p->pid;
	p->pid = getpid();
	setpids(p);
	sinit(&s, p->name, sizeof p->name);
	sputc(&s, 's');
	sint(&s, st->step);
	p->seq = 0;
	*procslot = p;	/* the note handler is inherited, as the kernel does */
	recinit(&r);
	jkey(&r.out, "pid");
	sint(&r.out, p->pid);
	emit(p, nil, "start", "start", &r);
	if(block >= 0)
		runblock(p, block);
	exits(nil);
}

static void
perform(Proc *p, Stmt *st)
{
	Rec r;
	Arg *a;
	int i, k, fds[2], block;
	long n;
	char *kind;
	uvlong v;
	void *ptr;

	a = st->args;
	p->cur = st;
	recinit(&r);
	kind = "call";
	switch(st->op){
	case Orfork:
		block = st->nargs > 1 && a[1].kind == 'c' ? a[1].ref : -1;
		k = rfork((int)value(p, &a[0]));
		if(k == 0 && ((int)value(p, &a[0]) & RFCFDG))
			p->outfd = -1;	/* this process's fd table is empty now */
		if(k == 0 && ((int)value(p, &a[0]) & RFPROC))
			childstart(p, st, block);
		setret(&r, k);
		break;
	case Oexec:
		block = a[1].kind == 'c' ? a[1].ref : -1;
		if(st->nargs == 3 && a[2].kind == 'n')
			st->argv = nil;
		else{
			for(i = 2; i < st->nargs; i++)
				st->argv[i-2] = (char*)PTR(p, &a[i]);
			st->argv[st->nargs-2] = nil;
		}
		if(block >= 0)
			setcont(p, st, block);
		setret(&r, exec((char*)PTR(p, &a[0]), st->argv));
		break;
	case Oexits:
		ptr = PTR(p, &a[0]);
		emit(p, st, kind, ops[st->op].name, &r);
		endrec(p);
		exits((char*)ptr);
		break;
	case Oawait:
		ptr = PTR(p, &a[0]);
		k = (int)value(p, &a[1]);
		n = await((char*)ptr, k);
		setret(&r, n);
		if(k == 0){
			/* nothing fits, not even the NUL: the text is empty */
			jkey(&r.out, "text");
			jstr(&r.out, "");
		}else if(n >= 0)
			cstrout(&r, "text", (char*)ptr, k);
		break;
	case Oerrstr:
		ptr = PTR(p, &a[0]);
		n = (long)value(p, &a[1]);
		setret(&r, errstr((char*)ptr, (uint)n));
		if(r.ret == 0)
			cstrout(&r, "text", (char*)ptr, n < Errmax ? n : Errmax);
		break;
	case O_errstr:
		ptr = PTR(p, &a[0]);
		setret(&r, _errstr((char*)ptr));
		if(r.ret == 0)
			cstrout(&r, "text", (char*)ptr, 64);
		break;
	case O_wait:
		/* OWaitmsg: pid[12] time[3*12] msg[64] (port/lib.h) */
		ptr = PTR(p, &a[0]);
		setret(&r, _wait(ptr));
		if(r.ret > 0 && ptr != nil)
			cstrout(&r, "msg", (char*)ptr + 4*12, 64);
		break;
	case Owerrstr:
		werrstr("%s", (char*)PTR(p, &a[0]));	/* void: ret stays null */
		break;
	case Orendezvous:
		setret(&r, ptrret(rendezvous(PTR(p, &a[0]), PTR(p, &a[1]))));
		break;
	case Osemacquire:
		setret(&r, semacquire((long*)PTR(p, &a[0]), (int)value(p, &a[1])));
		break;
	case Otsemacquire:
		setret(&r, tsemacquire((long*)PTR(p, &a[0]), (ulong)value(p, &a[1])));
		break;
	case Osemrelease:
		setret(&r, semrelease((long*)PTR(p, &a[0]), (long)value(p, &a[1])));
		break;
	case Osleep:
		setret(&r, sleep((long)value(p, &a[0])));
		break;
	case Oalarm:
		setret(&r, alarm((ulong)value(p, &a[0])));
		break;
	case Onsec:
		setret(&r, _nsec());
		break;
	case Onotify:
		p->hmode = a[0].kind == 'h' ? a[0].ref : Hnone;
		*procslot = p;
		setret(&r, notify(p->hmode == Hnone ? nil : notehandler));
		break;
	case Onoted:
		setret(&r, noted((int)value(p, &a[0])));
		break;
	case Osysr1:
		setret(&r, sysr1());
		break;
	case Obrk:
		setret(&r, brk_(PTR(p, &a[0])));
		break;
	case Osegbrk:
		setret(&r, ptrret(segbrk(PTR(p, &a[0]), PTR(p, &a[1]))));
		break;
	case Osegattach:
		setret(&r, ptrret(segattach((int)value(p, &a[0]), (char*)PTR(p, &a[1]), PTR(p, &a[2]), (ulong)value(p, &a[3]))));
		break;
	case Osegdetach:
		setret(&r, segdetach(PTR(p, &a[0])));
		break;
	case Osegfree:
		setret(&r, segfree(PTR(p, &a[0]), (ulong)value(p, &a[1])));
		break;
	case Oopen:
		setret(&r, open((char*)PTR(p, &a[0]), (int)value(p, &a[1])));
		break;
	case Ocreate:
		setret(&r, create((char*)PTR(p, &a[0]), (int)value(p, &a[1]), (ulong)value(p, &a[2])));
		break;
	case Oclose:
		setret(&r, close((int)value(p, &a[0])));
		break;
	case Odup:
		setret(&r, dup((int)value(p, &a[0]), (int)value(p, &a[1])));
		break;
	case Opipe:
		k = pipe(fds);
		setret(&r, k);
		if(k == 0){
			ptr = PTR(p, &a[0]);
			if(a[0].kind == 'b' && a[0].off >= 0 && a[0].off + (long)sizeof fds <= bufs[a[0].ref].size)
				memmove(ptr, fds, sizeof fds);
			jkey(&r.out, "fds");
			sputc(&r.out, '[');
			sint(&r.out, fds[0]);
			sputc(&r.out, ',');
			sint(&r.out, fds[1]);
			sputc(&r.out, ']');
		}
		break;
	case Oread:
		ptr = PTR(p, &a[1]);
		n = read((int)value(p, &a[0]), ptr, (long)value(p, &a[2]));
		setret(&r, n);
		if(n >= 0){
			jkey(&r.out, "hex");
			jhex(&r.out, (uchar*)ptr, n);
		}
		break;
	case Owrite:
		setret(&r, write((int)value(p, &a[0]), PTR(p, &a[1]), (long)value(p, &a[2])));
		break;
	case Oseek:
		setret(&r, seek((int)value(p, &a[0]), (vlong)value(p, &a[1]), (int)value(p, &a[2])));
		break;
	case Oremove:
		setret(&r, remove((char*)PTR(p, &a[0])));
		break;
	case Ofd2path:
		ptr = PTR(p, &a[1]);
		n = (long)value(p, &a[2]);
		k = fd2path((int)value(p, &a[0]), (char*)ptr, (int)n);
		setret(&r, k);
		if(k == 0 && n > 0)
			cstrout(&r, "text", (char*)ptr, n);
		break;
	case Ochdir:
		setret(&r, chdir((char*)PTR(p, &a[0])));
		break;
	case Opostnote:
		setret(&r, postnote((int)value(p, &a[0]), (int)value(p, &a[1]), (char*)PTR(p, &a[2])));
		break;
	case Oprobe:
		kind = "probe";
		probe(p, st, &r);
		break;
	case Owritefile:
		kind = "action";
		k = create((char*)PTR(p, &a[0]), OWRITE, st->nargs > 2 ? (ulong)value(p, &a[2]) : 0664);
		if(k < 0)
			setret(&r, -1);
		else{
			n = a[1].kind == 'b' ? bufs[a[1].ref].size - (long)a[1].off : 0;
			if(n < 0)
				n = 0;
			n = write(k, PTR(p, &a[1]), n);
			close(k);
			setret(&r, n < 0 ? -1 : 0);
		}
		break;
	case Oputenv:
		kind = "action";
		setret(&r, putenv((char*)PTR(p, &a[0]), (char*)PTR(p, &a[1])));
		break;
	case Otouch:
		kind = "action";
		ptr = PTR(p, &a[1]);
		if(a[0].text[0] == 'r'){
			v = NHPEEK(ptr);
			jkey(&r.out, "value");
			sint(&r.out, (vlong)(int)(u32int)v);	/* a 32-bit long, signed */
		}else
			NHPOKE(ptr, (u32int)value(p, &a[2]));
		r.isret = 1;
		r.ret = 0;
		break;
	}
	if(st->result >= 0)
		p->vals[st->result] = (uvlong)r.ret;
	emit(p, st, kind, ops[st->op].name, &r);
}

/*
 * The agent's own time for the program, the floor of a guest run: main's
 * last record, kind "end", proc "agent" (harness.trace.schema END), which the
 * host takes out of the trace before it is written or diffed.  A main resumed
 * after exec does not know its start (t0 0) and sends none.
 */
static vlong t0;

static void
endrec(Proc *p)
{
	Rec r;
	char name[sizeof p->name];
	long seq;

	if(t0 == 0 || strcmp(p->name, "main") != 0)
		return;
	recinit(&r);
	jkey(&r.out, "elapsed_ns");
	sint(&r.out, NHCLOCK() - t0);
	memmove(name, p->name, sizeof name);
	seq = p->seq;
	strcpy(p->name, "agent");
	p->seq = 0;
	emit(p, nil, "end", "end", &r);
	memmove(p->name, name, sizeof name);
	p->seq = seq;
	t0 = 0;
}

static void
runblock(Proc *p, int block)
{
	int i;

	for(i = 0; i < blocks[block].n; i++)
		perform(p, &stmts[blocks[block].first + i]);
}

/*
 * The declared buffers live above the image's end, as the model places
 * them: buffer k at end + the 8-byte-rounded sizes of those before it.
 * Bss grows to cover them with one brk before the program runs.
 */
static void
placebufs(void)
{
	uvlong total;
	uchar *at;
	int i;

	total = 0;
	for(i = 0; i < nbufs; i++)
		if(bufs[i].live)
			total += (bufs[i].size + 7) & ~7;
	if(total == 0)
		return;
	if(brk_(end + total) < 0){
		rerrstr(errmsg, sizeof errmsg);
		fail(0, "cannot grow bss for the buffers: ", errmsg, nil);
	}
	at = (uchar*)end;
	for(i = 0; i < nbufs; i++)
		if(bufs[i].live){
			memmove(at, bufs[i].data, bufs[i].size);
			bufs[i].data = at;
			at += (bufs[i].size + 7) & ~7;
		}
}

static void
setpids(Proc *p)
{
	p->vals[findvar("pid")] = p->pid;
	p->vals[findvar("ppid")] = p->ppid;
}

/* Continue after a successful exec of the agent (see setcont). */
static int
resume(Proc *p, char *cont)
{
	char *f[Maxvars + 16], *eq;
	int nf, i, block, k;
	vlong step;
	Rec r;

	nf = tokenize1(cont, cont + strlen(cont), 0);
	if(nf < 12 || nf > nelem(f))
		return -1;
	for(i = 0; i < nf; i++)
		f[i] = toks[i];
	if(atoi(f[9]) != p->pid)
		return -1;	/* not ours: left by another process */
	progfile = f[0];
	p->outfd = atoi(f[5]);
	outpath = f[10];
	outappend = strcmp(outpath, "#c/cons") != 0;
	scratchdir = f[6];
	agentpath = f[7];
	setframekey(f[11]);
	loadprogram();
	placebufs();
	block = findblock(f[1]);
	if(block < 0)
		fail(0, "nhcont names no block ", f[1], nil);
	strncpy(p->name, f[2], sizeof p->name - 1);
	p->seq = strtol(f[3], nil, 10);
	step = strtoll(f[4], nil, 10);
	p->ppid = atoi(f[8]);
	setpids(p);
	for(i = 12; i < nf; i++){
		eq = strchr(f[i], '=');
		if(eq == nil)
			continue;
		*eq = 0;
		k = findvar(f[i]);
		if(k >= 0)
			p->vals[k] = strtoull(eq+1, nil, 10);
	}
	/* the exec call's own record: it returned, in the new image */
	for(i = 0; i < nstmts; i++)
		if(stmts[i].step == step && stmts[i].op == Oexec){
			recinit(&r);
			r.isret = 1;
			r.ret = 0;
			jkey(&r.out, "argv");
			jargs(&r.out, p->argv, p->argc, argvstr);
			emit(p, &stmts[i], "call", "exec", &r);
			break;
		}
	runblock(p, block);
	return 0;
}

static void
usage(void)
{
	write(2, "usage: nhagent [-o outfile] [-d dir] [-k key] [-t] program-file\n", 64);
	exits("usage");
}

/*
 * -t: the kernel's own syscall trace (port/syscallfmt.c), as a second
 * source.  The bootfs has no ratrace, so the agent traces itself: before the
 * program starts, main forks a tracer (RFNOWAIT: never a child the program's
 * await could see; RFNOTEG: out of reach of the program's group notes;
 * RFFDG: its fds are its own) and stops itself by writing "stop" to its own
 * /proc/N/ctl.  The tracer writes "stop" too (either one stops main at the
 * end of that write), then "startsyscall" over and over: main stops at the
 * entry and at the return of every system call, and the tracer sends the text
 * of /proc/N/syscall back as a ktrace record (proc "kt<pid>", kind "ktrace",
 * out {"pid":N,"text":...}) on the agent's output, framed like every record.
 * Children inherit the tracing (sysrfork copies Proc_tracesyscall) and stop
 * at their first call; when an Rfork with RFPROC returns a pid, the tracer
 * forks a tracer for the child, which waits for that stop ("waitstop").
 * What the program sees of this: the pids the tracers take (the harness maps
 * pids symbolically), main's calls before its start record (open, rfork,
 * write, close of /proc/N/ctl), and time (every call stops twice: alarm
 * remainders and wait-message times grow).  Its fd table, note group,
 * children and errstr are unchanged.  The kernel's formatter itself reads a
 * call's pointer arguments before the call: a bad one fails the call there
 * ("bad arg in system call", note "sys: bad address in syscall") whatever
 * the call would have done (harness.trace.ktrace marks it "perturbed"), and
 * on 9front 027f579f4 await(buf, 0) into an unterminated buffer at the end
 * of the bss panics the kernel (sysretfmt formats the failed call's buffer
 * outside any error label).  The host build has no kernel to trace: -t
 * fails there.
 */
#ifndef NH_COMPAT_LIBC_H
enum { Ktextmax = 32768 };
static char	kttext[Ktextmax+1];

static void
ktemit(Proc *t, int pid, char *text, long n, char *err)
{
	Rec r;

	recinit(&r);
	jkey(&r.out, "pid");
	sint(&r.out, pid);
	if(text != nil){
		jkey(&r.out, "text");
		jstrn(&r.out, text, n);
		if(n >= Ktextmax){
			jkey(&r.out, "truncated");
			sadd(&r.out, "true");
		}
	}
	if(err != nil){
		jkey(&r.out, "error");
		jstr(&r.out, err);
	}
	emit(t, nil, "ktrace", "syscall", &r);
}

static int
ktctl(int fd, char *msg)
{
	return write(fd, msg, strlen(msg)) == strlen(msg) ? 0 : -1;
}

/*
 * Whether an entry text is an Rfork that makes a process: its last three
 * tokens are "Rfork PC 0xFLAGS" (the process name before them may hold
 * spaces).
 */
static int
ktisfork(char *t, long n)
{
	char *e, *tok[3];
	int k;

	e = t + n;
	for(k = 0; k < 3; k++){
		while(e > t && e[-1] == ' ')
			e--;
		while(e > t && e[-1] != ' ')
			e--;
		tok[k] = e;
	}
	if(strncmp(tok[2], "Rfork ", 6) != 0)
		return 0;
	return (strtoul(tok[0], nil, 0) & RFPROC) != 0;
}

/*
 * Trace process PID until it is gone; never returns.  CFD is main's ctl,
 * opened by main itself (so a tracer that cannot go on can still start it
 * again), or -1 for a child, whose ctl is opened here.
 */
static void
ktracer(int pid, int cfd)
{
	Proc t;
	char path[64], num[16];
	Str s, ns;
	int sfd, forking, kid, isentry, child;
	long n;

	memset(&t, 0, sizeof t);
	t.outfd = 1;
	t.pid = getpid();
	sinit(&ns, num, sizeof num);
	sint(&ns, pid);
	sinit(&s, t.name, sizeof t.name);
	sadd(&s, "kt");
	sadd(&s, num);
	child = cfd < 0;
	if(child){
		sinit(&s, path, sizeof path);
		sadd(&s, "/proc/");
		sadd(&s, num);
		sadd(&s, "/ctl");
		cfd = open(path, OWRITE);
	}
	sinit(&s, path, sizeof path);
	sadd(&s, "/proc/");
	sadd(&s, num);
	sadd(&s, "/syscall");
	sfd = open(path, OREAD);
	if(cfd < 0 || sfd < 0 || ktctl(cfd, child ? "waitstop" : "stop") < 0){
		/* untraced from here on: say why, and let the process run */
		rerrstr(errmsg, sizeof errmsg);
		ktemit(&t, pid, nil, 0, errmsg);
		if(cfd >= 0 && (sfd >= 0 || ktctl(cfd, child ? "waitstop" : "stop") == 0))
			ktctl(cfd, "start");
		exits(nil);
	}
	forking = 0;
	/* a child stops at the entry of its first call: that text is there already */
	n = child ? pread(sfd, kttext, Ktextmax, 0) : 0;
	for(;;){
		if(n > 0){
			kttext[n] = 0;
			isentry = n > strlen(num) && strncmp(kttext, num, strlen(num)) == 0
				&& kttext[strlen(num)] == ' ';
			ktemit(&t, pid, kttext, n, nil);
			if(isentry)
				forking = ktisfork(kttext, n);
			else if(forking){
				forking = 0;
				kid = strtol(kttext + 3, nil, 10);
				if(strncmp(kttext, " = ", 3) == 0 && kid > 0)
				switch(rfork(RFPROC|RFFDG|RFNOWAIT)){
				case 0:
					close(cfd);
					close(sfd);
					ktracer(kid, -1);
				}
			}
		}
		if(ktctl(cfd, "startsyscall") < 0)
			break;
		n = pread(sfd, kttext, Ktextmax, 0);
		if(n <= 0)
			break;
	}
	exits(nil);
}

static void
ktrace(void)
{
	char path[64];
	Str s;
	int fd, pid;

	pid = getpid();
	sinit(&s, path, sizeof path);
	sadd(&s, "/proc/");
	sint(&s, pid);
	sadd(&s, "/ctl");
	fd = open(path, OWRITE);
	if(fd < 0){
		rerrstr(errmsg, sizeof errmsg);
		fail(0, "-t: cannot open ", path, nil);
	}
	switch(rfork(RFPROC|RFFDG|RFNOWAIT|RFNOTEG)){
	case -1:
		rerrstr(errmsg, sizeof errmsg);
		fail(0, "-t: cannot fork the tracer: ", errmsg, nil);
	case 0:
		ktracer(pid, fd);
	}
	/* stopped at the end of this write until the tracer lets it go, traced */
	write(fd, "stop", 4);
	close(fd);
}
#else
static void
ktrace(void)
{
	fail(0, "-t: no kernel syscall trace in the host build", nil, nil);
}
#endif

static char contbuf[16384];

void
main(int argc, char **argv)
{
	Proc proc;
	Rec r;
	char *outfile;
	int i, tflag;
	long n;

	memset(&proc, 0, sizeof proc);
	mkcrctab();
	procslot = privalloc();
	proc.argc = argc;
	proc.argv = argv;
	proc.pid = getpid();
	proc.hmode = Hnone;
	proc.outfd = 1;
	*procslot = &proc;

	/* an exec'd agent continues where the program said */
	n = readfile("/env/nhcont", contbuf, sizeof contbuf - 1);
	if(n > 0){
		contbuf[n] = 0;
		if(resume(&proc, contbuf) == 0)
			exits(nil);
	}
	t0 = NHCLOCK();

	outfile = nil;
	tflag = 0;
	agentpath = argv[0];
	for(i = 1; i < argc && argv[i][0] == '-'; i++){
		if(strcmp(argv[i], "-o") == 0 && i+1 < argc)
			outfile = argv[++i];
		else if(strcmp(argv[i], "-d") == 0 && i+1 < argc)
			scratchdir = argv[++i];
		else if(strcmp(argv[i], "-k") == 0 && i+1 < argc)
			setframekey(argv[++i]);
		else if(strcmp(argv[i], "-t") == 0)
			tflag = 1;
		else
			usage();
	}
	if(i != argc-1)
		usage();
	progfile = argv[i];
#ifdef NH_COMPAT_LIBC_H
	if(tflag)
		ktrace();	/* fails: the host build has no kernel to trace */
#endif
	loadprogram();
	if(outfile != nil){
		/* on fd 1, so the fd table is the one the model starts with */
		i = create(outfile, OWRITE, 0664);
		if(i < 0){
			rerrstr(errmsg, sizeof errmsg);
			fail(0, "cannot create output: ", errmsg, nil);
		}
		if(i != 1){
			dup(i, 1);
			close(i);
		}
		outpath = outfile;
		outappend = 1;
	}
	placebufs();
	proc.ppid = getppid();
	setpids(&proc);
	/*
	 * A note group of our own: a scenario's PNGROUP note must not reach
	 * rc or bootrc (killing bootrc panics the kernel).  The host build's
	 * system calls are the model's answers, which start in a group already.
	 */
#ifndef NH_COMPAT_LIBC_H
	if(tflag)
		ktrace();
	rfork(RFNOTEG);
#endif
	werrstr("");	/* the model starts with an empty errstr; looking up nhcont set one */
	strcpy(proc.name, "main");
	recinit(&r);
	jkey(&r.out, "pid");
	sint(&r.out, proc.pid);
	emit(&proc, nil, "start", "start", &r);
	runblock(&proc, findblock("main"));
	endrec(&proc);
	exits(nil);
}

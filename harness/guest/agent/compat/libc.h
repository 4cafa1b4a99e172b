/*
 * Host compatibility layer, part 2: the subset of Plan 9 libc the agent
 * uses.  Every system call is renamed to an nh_ function in host.c, whose
 * answers come from the golden model's trace (see host.c); string and
 * number helpers are the host's own.  Not used inside 9front.
 */
#ifndef NH_COMPAT_LIBC_H
#define NH_COMPAT_LIBC_H

#include <string.h>
#include <stdlib.h>

#define nil	((void*)0)
#define nelem(x)	((int)(sizeof(x)/sizeof((x)[0])))
#define USED(...)	nh_used(0, __VA_ARGS__)
#define SET(x)
static inline void nh_used(int z, ...) { (void)z; }

enum {
	OREAD = 0, OWRITE = 1, ORDWR = 2, OEXEC = 3, OTRUNC = 16, OCEXEC = 32, ORCLOSE = 64,
	RFNAMEG = 1<<0, RFENVG = 1<<1, RFFDG = 1<<2, RFNOTEG = 1<<3, RFPROC = 1<<4, RFMEM = 1<<5,
	RFNOWAIT = 1<<6, RFCNAMEG = 1<<10, RFCENVG = 1<<11, RFCFDG = 1<<12, RFREND = 1<<13, RFNOMNT = 1<<14,
	NCONT = 0, NDFLT = 1, NSAVE = 2, NRSTR = 3,
	PNPROC = 1, PNGROUP = 2,
	ERRMAX = 128,
};

/* Memory touched by 'touch' steps: answered by the model, never dereferenced. */
#define NHPEEK(a)	nh_peek((void*)(a))
#define NHPOKE(a, v)	nh_poke((void*)(a), (v))
u32int	nh_peek(void*);
void	nh_poke(void*, u32int);
/* the agent's own output fd for one record (agent.c emit): a dup of fd 1 */
/* the agent's own clock (agent.c endrec): the host's, since _nsec is the model's answer */
#define NHCLOCK()	nh_clock()
vlong	nh_clock(void);
#define NHOPENOUT()	nh_openout()
#define NHCLOSEOUT(fd)	nh_closeout(fd)
int	nh_openout(void);
void	nh_closeout(int);

/* the image's end (libc.h declares it in Plan 9): here a static arena in host.c */
#define end	nh_end
extern char	end[];

#define main	nh_main
/* the operations' libc routines, renamed to nh_ and declared: generated from harness/ops */
#include "calls.h"
/* and the agent's own */
#define rerrstr	nh_rerrstr
#define getpid	nh_getpid
#define getppid	nh_getppid
#define privalloc	nh_privalloc

void	rerrstr(char*, uint);
int	getpid(void);
int	getppid(void);
void**	privalloc(void);
void	main(int, char**);

#endif

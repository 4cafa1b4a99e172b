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
#define NHOPENOUT()	nh_openout()
#define NHCLOSEOUT(fd)	nh_closeout(fd)
int	nh_openout(void);
void	nh_closeout(int);

/* the image's end (libc.h declares it in Plan 9): here a static arena in host.c */
#define end	nh_end
extern char	end[];

#define main	nh_main
#define open	nh_open
#define create	nh_create
#define close	nh_close
#define dup	nh_dup
#define pipe	nh_pipe
#define read	nh_read
#define write	nh_write
#define seek	nh_seek
#define remove	nh_remove
#define fd2path	nh_fd2path
#define chdir	nh_chdir
#define rfork	nh_rfork
#define exec	nh_exec
#define exits	nh_exits
#define await	nh_await
#define errstr	nh_errstr
#define rerrstr	nh_rerrstr
#define werrstr	nh_werrstr
#define rendezvous	nh_rendezvous
#define semacquire	nh_semacquire
#define tsemacquire	nh_tsemacquire
#define semrelease	nh_semrelease
#define sleep	nh_sleep
#define alarm	nh_alarm
#define notify	nh_notify
#define noted	nh_noted
#define sysr1	nh_sysr1
#define _errstr	nh__errstr
#define _wait	nh__wait
#define brk_	nh_brk_
#define _nsec	nh__nsec
#define segbrk	nh_segbrk
#define segattach	nh_segattach
#define segdetach	nh_segdetach
#define segfree	nh_segfree
#define postnote	nh_postnote
#define putenv	nh_putenv
#define getpid	nh_getpid
#define getppid	nh_getppid
#define privalloc	nh_privalloc

int	open(char*, int);
int	create(char*, int, ulong);
int	close(int);
int	dup(int, int);
int	pipe(int*);
long	read(int, void*, long);
long	write(int, void*, long);
vlong	seek(int, vlong, int);
int	remove(char*);
int	fd2path(int, char*, int);
int	chdir(char*);
int	rfork(int);
int	exec(char*, char**);
_Noreturn void	exits(char*);
int	await(char*, int);
int	errstr(char*, uint);
void	rerrstr(char*, uint);
void	werrstr(char*, ...);
void*	rendezvous(void*, void*);
int	semacquire(long*, int);
int	tsemacquire(long*, ulong);
long	semrelease(long*, long);
int	sleep(long);
long	alarm(ulong);
int	notify(void(*)(void*, char*));
int	noted(int);
int	sysr1(void);
int	_errstr(char*);
int	_wait(void*);
int	brk_(void*);
vlong	_nsec(void);
void*	segbrk(void*, void*);
void*	segattach(int, char*, void*, ulong);
int	segdetach(void*);
int	segfree(void*, ulong);
int	postnote(int, int, char*);
int	putenv(char*, char*);
int	getpid(void);
int	getppid(void);
void**	privalloc(void);
void	main(int, char**);

#endif

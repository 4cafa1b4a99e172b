/* generated from harness/ops by python -m harness.ops --write; do not edit */
/* the libc routines of the operations: answered by compat/host.c */

#define rfork	nh_rfork
#define exec	nh_exec
#define exits	nh_exits
#define await	nh_await
#define errstr	nh_errstr
#define _errstr	nh__errstr
#define _wait	nh__wait
#define werrstr	nh_werrstr
#define rendezvous	nh_rendezvous
#define semacquire	nh_semacquire
#define tsemacquire	nh_tsemacquire
#define semrelease	nh_semrelease
#define sleep	nh_sleep
#define alarm	nh_alarm
#define _nsec	nh__nsec
#define notify	nh_notify
#define noted	nh_noted
#define sysr1	nh_sysr1
#define brk_	nh_brk_
#define segbrk	nh_segbrk
#define segattach	nh_segattach
#define segdetach	nh_segdetach
#define segfree	nh_segfree
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
#define postnote	nh_postnote
#define putenv	nh_putenv

int	rfork(int);
int	exec(char*, char**);
_Noreturn void	exits(char*);
int	await(char*, int);
int	errstr(char*, uint);
int	_errstr(char*);
int	_wait(void*);
void	werrstr(char*, ...);
void*	rendezvous(void*, void*);
int	semacquire(long*, int);
int	tsemacquire(long*, ulong);
long	semrelease(long*, long);
int	sleep(long);
long	alarm(ulong);
vlong	_nsec(void);
int	notify(void(*)(void*, char*));
int	noted(int);
int	sysr1(void);
int	brk_(void*);
void*	segbrk(void*, void*);
void*	segattach(int, char*, void*, ulong);
int	segdetach(void*);
int	segfree(void*, ulong);
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
int	postnote(int, int, char*);
int	putenv(char*, char*);

/* generated from harness/ops by python -m harness.ops --write; do not edit */
/* included by compat/host.c after call() and ptr() */

void*
nh_rendezvous(void *a0, void *a1)
{
	(void)a0; (void)a1;
	return ptr(call("rendezvous")->ret);
}

int
nh_semacquire(long *a0, int a1)
{
	(void)a0; (void)a1;
	return (int)call("semacquire")->ret;
}

int
nh_tsemacquire(long *a0, unsigned long a1)
{
	(void)a0; (void)a1;
	return (int)call("tsemacquire")->ret;
}

long
nh_semrelease(long *a0, long a1)
{
	(void)a0; (void)a1;
	return (long)call("semrelease")->ret;
}

int
nh_sleep(long a0)
{
	(void)a0;
	return (int)call("sleep")->ret;
}

long
nh_alarm(unsigned long a0)
{
	(void)a0;
	return (long)call("alarm")->ret;
}

vlong
nh__nsec(void)
{
	return (vlong)call("nsec")->ret;
}

int
nh_sysr1(void)
{
	return (int)call("sysr1")->ret;
}

void*
nh_segbrk(void *a0, void *a1)
{
	(void)a0; (void)a1;
	return ptr(call("segbrk")->ret);
}

void*
nh_segattach(int a0, char *a1, void *a2, unsigned long a3)
{
	(void)a0; (void)a1; (void)a2; (void)a3;
	return ptr(call("segattach")->ret);
}

int
nh_segdetach(void *a0)
{
	(void)a0;
	return (int)call("segdetach")->ret;
}

int
nh_segfree(void *a0, unsigned long a1)
{
	(void)a0; (void)a1;
	return (int)call("segfree")->ret;
}

int
nh_chdir(char *a0)
{
	(void)a0;
	return (int)call("chdir")->ret;
}

int
nh_postnote(int a0, int a1, char *a2)
{
	(void)a0; (void)a1; (void)a2;
	return (int)call("postnote")->ret;
}

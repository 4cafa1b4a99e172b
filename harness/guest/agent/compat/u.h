/*
 * Host compatibility layer, part 1: the Plan 9 basic types (u.h) for
 * building agent.c with the host's C compiler.  Not used inside 9front.
 */
#ifndef NH_COMPAT_U_H
#define NH_COMPAT_U_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

typedef unsigned char	uchar;
typedef unsigned short	ushort;
typedef unsigned int	uint;
typedef unsigned long	ulong;
typedef long long	vlong;
typedef unsigned long long	uvlong;
typedef uintptr_t	uintptr;
typedef uint32_t	u32int;
typedef size_t	usize;

#endif

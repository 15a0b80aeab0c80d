#ifndef PORTCULLIS_CRESOLVER_SHIM_H
#define PORTCULLIS_CRESOLVER_SHIM_H

/* libunbound (Debian libunbound-dev). No pkg-config: `pkg-config libunbound` fails unless
 * libevent-dev is installed, and the header and library are in the default paths anyway. */
#include <unbound.h>
#include <pthread.h>

#ifdef __linux__
/* glibc declares it only under _GNU_SOURCE, which the Swift Glibc module is built without. */
int pthread_setname_np(pthread_t thread, const char *name);
#endif

/* Names the calling thread (at most 15 bytes on Linux), so that top -H and gdb show it. */
static inline void cresolver_name_this_thread(const char *name) {
#ifdef __linux__
    (void)pthread_setname_np(pthread_self(), name);
#else
    (void)name;
#endif
}

#endif

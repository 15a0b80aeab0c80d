#ifndef PORTCULLIS_CMILTER_SHIM_H
#define PORTCULLIS_CMILTER_SHIM_H

/* mfapi.h does `typedef int bool` unless stdbool.h came first; then Swift cannot pass `true`
 * to smfi_opensocket. */
#include <stdbool.h>
#include <stddef.h>
#include <libmilter/mfapi.h>

/* smfi_setmlreply(3) is variadic, which Swift cannot call. libmilter reads lines up to the first
 * NULL and accepts at most 32, so the caller passes a NULL-padded array of 32 lines. */
static inline int cmilter_setmlreply(SMFICTX *ctx, const char *rcode, const char *xcode,
                                     const char *const lines[32]) {
    return smfi_setmlreply(ctx, rcode, xcode,
        lines[0], lines[1], lines[2], lines[3], lines[4], lines[5], lines[6], lines[7],
        lines[8], lines[9], lines[10], lines[11], lines[12], lines[13], lines[14], lines[15],
        lines[16], lines[17], lines[18], lines[19], lines[20], lines[21], lines[22], lines[23],
        lines[24], lines[25], lines[26], lines[27], lines[28], lines[29], lines[30], lines[31],
        (char *)NULL);
}

#endif

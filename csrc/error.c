/* error.c - how the core reports failures: a one-line message (char *err) and, for the
 * per-atom calls, acelin_error (which atom and bond failed, as data). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

acelin_status acelin_fail(char *err, size_t errlen, acelin_status st, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

void acelin_error_clear(acelin_error *e)
{
    if (!e) return;
    e->status = ACELIN_OK;
    e->atom = -1;
    e->bond = -1;
    e->message[0] = '\0';
}

acelin_status acelin_error_set(acelin_error *e, acelin_status st, int atom, int64_t bond,
                               const char *fmt, ...)
{
    if (e) {
        e->status = st;
        e->atom = atom;
        e->bond = bond;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof e->message, fmt, ap);
        va_end(ap);
    }
    return st;
}

acelin_status acelin_error_text(acelin_status st, const acelin_error *e, char *err, size_t errlen)
{
    if (st != ACELIN_OK && err && errlen) snprintf(err, errlen, "%s", e->message);
    return st;
}

void acelin_first_failure(acelin_error *first, acelin_status st, int atom, int64_t bond, const char *msg)
{
    if (atom >= first->atom && first->status != ACELIN_OK) return;
    first->status = st;
    first->atom = atom;
    first->bond = bond;
    snprintf(first->message, sizeof first->message, "%s", msg);
}

acelin_status acelin_report_first(const acelin_error *first, acelin_error *e)
{
    if (first->status == ACELIN_OK) return ACELIN_OK;
    return acelin_error_set(e, first->status, first->atom, first->bond, "atom %d: %s", first->atom,
                            first->message);
}

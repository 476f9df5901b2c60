/*
 * test-sites-noloc.c - test-sites' second unit, compiled with
 * NBLOG_NO_LOCATION: its calls carry no location (test-sites.c reads
 * them back). nblog_printf is the plain function call again here.
 */
#define NBLOG_NO_LOCATION
#include "nblog.h"

int noloc_printf(const char *text);
int noloc_info(const char *text);
int noloc_deferred(const char *text);
int noloc_ratelimited(const char *text);

/* A plain expression: usable where a statement expression is not (a
 * static initializer's operand of sizeof, here). */
static const int plain_expression = (int)sizeof(nblog_printf(NBLOG_LEVEL_INFO, "%d", 1));

int noloc_printf(const char *text)
{
    return nblog_printf(NBLOG_LEVEL_INFO, "%s", text) + 0 * plain_expression;
}

int noloc_info(const char *text)
{
    return nblog_info("%s", text);
}

int noloc_deferred(const char *text)
{
    return NBLOG_INFO("%s", text);
}

int noloc_ratelimited(const char *text)
{
    return nblog_printf_ratelimited(NBLOG_LEVEL_INFO, "%s", text);
}

/*
 * testutil.h - helpers shared by nblog's tests.
 */
#ifndef NBLOG_TESTUTIL_H
#define NBLOG_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

/* Record counts are divided by this under sanitizers, which run 5-20x
 * slower; the property checked is the same. */
#if defined(NBLOG_TEST_SANITIZER)
#define TEST_SCALE_DIV 20
#else
#define TEST_SCALE_DIV 1
#endif
#define SCALED(n) ((n) / TEST_SCALE_DIV > 0 ? (n) / TEST_SCALE_DIV : 1)

#endif

/*
 * dmesg-args.c - the values `nblog dmesg` takes from its command line that
 * need more than a number: times (--since, --until) and level lists
 * (--level, --priority). Outside input: both parsers take any byte string,
 * never read past its NUL, never overflow (every sum and product is
 * checked), and say 0 or -1; tests/fuzz-args.c runs them under libFuzzer.
 *
 * TIMES, as journalctl(1) and systemd.time(7) take them:
 *   now, today, yesterday, tomorrow   (midnight in local time)
 *   @EPOCH[.FRACTION]                 seconds since 1970 UTC
 *   [+|-]SPAN, SPAN ago               relative to now: "-1h", "+5min",
 *                                     "10 min ago", "1h 30min ago";
 *                                     units us, ms, s, min (m), h, d, w,
 *                                     month (M), y and their long names
 *   DATE[ |T]TIME[ZONE], DATE, TIME   DATE YYYY-MM-DD; TIME HH:MM[:SS[.F]]
 *                                     (a TIME alone is today); ZONE "Z",
 *                                     " UTC", or [+-]HH[:]MM; without one,
 *                                     local time (mktime)
 * A time is kept as Unix nanoseconds (int64_t: years 1678..2262); spans
 * up to 90 years. Anything outside is refused, never wrapped.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tool.h"

#define NS_PER_S 1000000000LL
#define SPAN_MAX_NS ((int64_t)90 * 366 * 86400 * NS_PER_S) /* < INT64_MAX / 3 */

/* sec + frac_ns (0..999999999) as nanoseconds; -1 if it does not fit. */
static int to_ns(long long sec, int64_t frac, int64_t *out)
{
    int64_t ns;
    if (__builtin_mul_overflow((int64_t)sec, NS_PER_S, &ns) ||
        __builtin_add_overflow(ns, frac, out))
        return -1;
    return 0;
}

static const char *skip_spaces(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Reads 1..maxd decimal digits at *s into *v; 0, or -1 if none. */
static int digits(const char **s, int maxd, long long *v)
{
    int n = 0;
    *v = 0;
    while (n < maxd && **s >= '0' && **s <= '9') {
        *v = *v * 10 + (**s - '0');
        (*s)++;
        n++;
    }
    return n ? 0 : -1;
}

/* Exactly n digits. */
static int fixed(const char **s, int n, long long *v)
{
    const char *start = *s;
    return digits(s, n, v) == 0 && *s - start == n ? 0 : -1;
}

/* ".F": up to 9 digits as nanoseconds (more are read and ignored). */
static int fraction_ns(const char **s, int64_t *ns)
{
    *ns = 0;
    if (**s != '.')
        return 0;
    (*s)++;
    int n = 0;
    if (**s < '0' || **s > '9')
        return -1;
    for (; **s >= '0' && **s <= '9'; (*s)++, n++)
        if (n < 9)
            *ns = *ns * 10 + (**s - '0');
    for (; n < 9; n++)
        *ns *= 10;
    return 0;
}

static const struct {
    const char *name;
    int64_t ns;
} units[] = {
    {"usec", 1000},
    {"us", 1000},
    {"msec", 1000000},
    {"ms", 1000000},
    {"seconds", NS_PER_S},
    {"second", NS_PER_S},
    {"sec", NS_PER_S},
    {"s", NS_PER_S},
    {"minutes", 60 * NS_PER_S},
    {"minute", 60 * NS_PER_S},
    {"min", 60 * NS_PER_S},
    {"m", 60 * NS_PER_S},
    {"hours", 3600 * NS_PER_S},
    {"hour", 3600 * NS_PER_S},
    {"hr", 3600 * NS_PER_S},
    {"h", 3600 * NS_PER_S},
    {"days", 86400 * NS_PER_S},
    {"day", 86400 * NS_PER_S},
    {"d", 86400 * NS_PER_S},
    {"weeks", 7 * 86400 * NS_PER_S},
    {"week", 7 * 86400 * NS_PER_S},
    {"w", 7 * 86400 * NS_PER_S},
    {"months", 2629800 * NS_PER_S}, /* 30.44 days, as systemd */
    {"month", 2629800 * NS_PER_S},
    {"M", 2629800 * NS_PER_S},
    {"years", 31557600 * NS_PER_S}, /* 365.25 days */
    {"year", 31557600 * NS_PER_S},
    {"y", 31557600 * NS_PER_S},
};

/* A span "1h 30min", "10 min", "90" (seconds): numbers, each with an
 * optional unit. Returns 0 and *ns, or -1. Leaves *s after it. */
static int span(const char **s, int64_t *ns)
{
    *ns = 0;
    int parts = 0;
    const char *p = *s;
    for (;;) {
        p = skip_spaces(p);
        if (*p < '0' || *p > '9')
            break;
        long long whole;
        int64_t frac;
        if (digits(&p, 12, &whole) != 0 || (*p >= '0' && *p <= '9') || fraction_ns(&p, &frac) != 0)
            return -1;
        p = skip_spaces(p);
        size_t len = 0;
        while (isalpha((unsigned char)p[len]))
            len++;
        int64_t unit = NS_PER_S; /* a bare number is seconds */
        if (len) {
            size_t i = 0;
            while (i < sizeof units / sizeof units[0] &&
                   (strlen(units[i].name) != len || strncmp(p, units[i].name, len)))
                i++;
            if (i == sizeof units / sizeof units[0])
                return -1;
            unit = units[i].ns;
            p += len;
        }
        if (whole > SPAN_MAX_NS / unit)
            return -1;
        int64_t add = (int64_t)whole * unit + (int64_t)((double)frac * (double)unit / 1e9);
        if (add > SPAN_MAX_NS - *ns)
            return -1;
        *ns += add;
        parts++;
    }
    *s = p;
    return parts ? 0 : -1;
}

static int64_t local_midnight(int64_t now_ns, int days)
{
    time_t t = (time_t)(now_ns / NS_PER_S);
    struct tm tm;
    if (!localtime_r(&t, &tm))
        return INT64_MIN;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_mday += days;
    tm.tm_isdst = -1;
    time_t m = mktime(&tm);
    int64_t ns;
    return m == (time_t)-1 || to_ns((long long)m, 0, &ns) != 0 ? INT64_MIN : ns;
}

static int days_in_month(long long y, long long m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : d[m - 1];
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static long long days_from_civil(long long y, long long m, long long d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "[+-]HH[:]MM" or "Z" or " UTC" at *s: *off_s east of UTC. 1 if one was
 * there, 0 if none, -1 if malformed. */
static int zone(const char **s, long *off_s)
{
    const char *p = *s;
    if (*p == 'Z' || *p == 'z') {
        *s = p + 1;
        *off_s = 0;
        return 1;
    }
    if (!strcmp(skip_spaces(p), "UTC") && p != skip_spaces(p)) {
        *s = p + strlen(p);
        *off_s = 0;
        return 1;
    }
    if (*p != '+' && *p != '-')
        return 0;
    int sign = *p == '-' ? -1 : 1;
    p++;
    long long hh, mm;
    if (fixed(&p, 2, &hh) != 0)
        return -1;
    if (*p == ':')
        p++;
    if (fixed(&p, 2, &mm) != 0 || hh > 23 || mm > 59)
        return -1;
    *off_s = sign * (long)(hh * 3600 + mm * 60);
    *s = p;
    return 1;
}

/* DATE, TIME or both, a zone optional. */
static int absolute(const char *s, int64_t now_ns, int64_t *out)
{
    long long y = 0, mo = 0, d = 0, hh = 0, mi = 0, ss = 0;
    int64_t frac = 0;
    int have_date = 0, have_time = 0;
    const char *p = s;
    if (fixed(&p, 4, &y) == 0 && *p == '-') {
        p++;
        if (fixed(&p, 2, &mo) != 0 || *p++ != '-' || fixed(&p, 2, &d) != 0)
            return -1;
        if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
            return -1;
        have_date = 1;
        if (*p == 'T' || (*p == ' ' && p[1] >= '0' && p[1] <= '9'))
            p++;
    } else {
        p = s;
    }
    if (*p >= '0' && *p <= '9') {
        if (fixed(&p, 2, &hh) != 0 || *p++ != ':' || fixed(&p, 2, &mi) != 0)
            return -1;
        if (*p == ':') {
            p++;
            if (fixed(&p, 2, &ss) != 0 || fraction_ns(&p, &frac) != 0)
                return -1;
        }
        if (hh > 23 || mi > 59 || ss > 59)
            return -1;
        have_time = 1;
    }
    if (!have_date && !have_time)
        return -1;
    long off = 0;
    int z = zone(&p, &off);
    if (z < 0 || *p)
        return -1;
    if (z == 1) {
        if (!have_date) { /* today, in UTC */
            long long day = now_ns / NS_PER_S / 86400 - (now_ns < 0);
            return to_ns(day * 86400 + hh * 3600 + mi * 60 + ss - off, frac, out);
        }
        long long sec = days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss - off;
        return to_ns(sec, frac, out);
    }
    struct tm tm = {0};
    if (have_date) {
        tm.tm_year = (int)(y - 1900);
        tm.tm_mon = (int)(mo - 1);
        tm.tm_mday = (int)d;
    } else {
        time_t t = (time_t)(now_ns / NS_PER_S);
        if (!localtime_r(&t, &tm))
            return -1;
    }
    tm.tm_hour = (int)hh;
    tm.tm_min = (int)mi;
    tm.tm_sec = (int)ss;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    if (t == (time_t)-1 && !(tm.tm_year == 69 && tm.tm_mon == 11 && tm.tm_mday == 31))
        return -1;
    return to_ns((long long)t, frac, out);
}

int tool_parse_time(const char *text, int64_t now_ns, int64_t *out)
{
    if (!text)
        return -1;
    const char *s = skip_spaces(text);
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    char buf[128];
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (!strcmp(buf, "now"))
        return *out = now_ns, 0;
    if (!strcmp(buf, "today") || !strcmp(buf, "yesterday") || !strcmp(buf, "tomorrow")) {
        int64_t m = local_midnight(now_ns, buf[0] == 'y' ? -1 : buf[1] == 'o' && buf[2] == 'm');
        return m == INT64_MIN ? -1 : (*out = m, 0);
    }
    if (buf[0] == '@') {
        const char *p = buf + 1;
        long long sec;
        int64_t frac;
        if (digits(&p, 12, &sec) != 0 || fraction_ns(&p, &frac) != 0 || *p)
            return -1;
        return to_ns(sec, frac, out);
    }
    if (buf[0] == '+' || buf[0] == '-') {
        const char *p = buf + 1;
        int64_t ns;
        if (span(&p, &ns) != 0 || *skip_spaces(p))
            return -1;
        return buf[0] == '-' ? (__builtin_sub_overflow(now_ns, ns, out) ? -1 : 0)
                             : (__builtin_add_overflow(now_ns, ns, out) ? -1 : 0);
    }
    if (n > 4 && !strcmp(buf + n - 4, " ago")) {
        const char *p = buf;
        int64_t ns;
        buf[n - 4] = '\0';
        if (span(&p, &ns) != 0 || *skip_spaces(p))
            return -1;
        return __builtin_sub_overflow(now_ns, ns, out) ? -1 : 0;
    }
    return absolute(buf, now_ns, out);
}

/* One level: a name or digit nblog_level_parse takes. */
static int one_level(const char *s, size_t n)
{
    char name[16];
    if (n == 0 || n >= sizeof name)
        return -1;
    memcpy(name, s, n);
    name[n] = '\0';
    int level = nblog_level_parse(name);
    return level >= 0 && level < NBLOG_LEVEL_COUNT ? level : -1;
}

/* Bits 0..7 from..to (either order). */
static unsigned range_bits(int a, int b)
{
    int lo = a < b ? a : b, hi = a < b ? b : a;
    return ((1u << (hi + 1)) - 1) & ~((1u << lo) - 1);
}

int tool_parse_levels(const char *text, unsigned *mask)
{
    if (!text || !*text)
        return -1;
    int list = strchr(text, ',') != NULL;
    unsigned bits = 0;
    for (const char *item = text;;) {
        const char *end = strchr(item, ',');
        size_t n = end ? (size_t)(end - item) : strlen(item);
        const char *dots = NULL;
        for (size_t i = 0; i + 1 < n; i++)
            if (item[i] == '.' && item[i + 1] == '.') {
                dots = item + i;
                break;
            }
        if (dots) { /* FROM..TO, ..TO, FROM.. */
            size_t a = (size_t)(dots - item), b = n - a - 2;
            int from = a ? one_level(item, a) : 0;
            int to = b ? one_level(dots + 2, b) : NBLOG_LEVEL_DEBUG;
            if (from < 0 || to < 0 || (a == 0 && b == 0))
                return -1;
            bits |= range_bits(from, to);
        } else if (n > 1 && item[n - 1] == '+') { /* dmesg: LVL and more severe */
            int l = one_level(item, n - 1);
            if (l < 0)
                return -1;
            bits |= range_bits(0, l);
        } else if (n > 1 && item[0] == '-') { /* dmesg: LVL and less severe */
            int l = one_level(item + 1, n - 1);
            if (l < 0)
                return -1;
            bits |= range_bits(l, NBLOG_LEVEL_DEBUG);
        } else {
            int l = one_level(item, n);
            if (l < 0)
                return -1;
            /* One level alone is a threshold (journalctl -p, and --level
             * always was); in a list, that level only (dmesg -l). */
            bits |= list ? 1u << l : range_bits(0, l);
        }
        if (!end)
            break;
        item = end + 1;
    }
    *mask = bits;
    return 0;
}

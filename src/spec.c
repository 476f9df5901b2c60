/*
 * spec.c - console specs: one text grammar for programs
 * (nblog_console_from_spec), the nblog command (--console) and the
 * NBLOG_CONSOLES environment variable (';'-separated specs).
 *
 *     spec   = kind [":" argument] *("," option)
 *     option = "level=" LEVEL
 *            | "format=" plain|kmsg|human|json|pattern:PATTERN (last: the
 *              pattern runs to the end of the spec, commas included)
 *            | "color=" auto|always|never | "time=" utc|local
 *            | "show=" program+pid+tid (the human format's fields)
 *            | "mode=" threaded|direct | "name=" NAME | "stall_ms=" N
 *            | a kind's own option (syslog: app=, facility=, sd=on|off,
 *              rfc3164=on|off, msgid=, hostname=; syslog+tls also ca=FILE,
 *              cert=FILE, key=FILE, peer=NAME)
 *
 *     kinds: stderr | fd:N | file:PATH | syslog+udp://HOST:PORT
 *            | syslog+tcp://HOST:PORT | syslog+tls://HOST[:PORT]
 *            | unix:PATH | journald[:PATH]
 *
 * The kind ends at the first ':' or ',', so an argument may itself hold
 * ':' ("syslog+udp://host:514"); it ends at the first ','. The common
 * options apply to nblog_console_opts_t whatever the kind; any other
 * option goes to the kind, which refuses what it does not know. A new kind
 * of console is one line in the kinds[] table below: its name, whether it
 * takes an argument, and a function that makes it from the argument, the
 * options and its own options.
 *
 * Errors: NBLOG_EINVAL, nothing registered, and a sentence naming the bad
 * part in a per-thread buffer (nblog_spec_error), printable ASCII (other
 * bytes of the spec it quotes as \xNN). Parsing happens on a copy in a
 * fixed buffer; a spec longer than it is an error too.
 *
 * At init (nblog__consoles_at_init, called by lifecycle.c) NBLOG_CONSOLES is
 * read and its consoles registered, all or none, else the default console
 * (console.c replaces it by the program's first); see nblog.h, "Consoles
 * at init". nblog_consoles_from_env does not register again what init
 * registered from the same value.
 *
 * Text that reaches a terminal or a syslog header is checked: name= is 1
 * to 31 bytes of printable ASCII; app= (48), msgid= (32) and hostname=
 * (255) printable ASCII without spaces.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console.h"
#include "consoles/fd.h"
#include "lifecycle.h"
#include "nblog.h"

#define SPEC_MAX 1024
/* The default console's format, and a "stderr" spec's: human (time and
 * level). */
#define DEFAULT_CONSOLE_FORMAT NBLOG_FORMAT_HUMAN
#define NAME_MAX_BYTES NBLOG_CONSOLE_NAME_MAX

static __thread char spec_err[256];

const char *nblog_spec_error(void)
{
    return spec_err;
}

static int spec_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The sentence is printed to terminals and quotes the spec: every byte of
 * it but printable ASCII goes in as \xNN (cut, if need be, before an
 * escape rather than inside one). */
static int spec_fail(const char *fmt, ...)
{
    char raw[sizeof spec_err];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    size_t n = 0;
    for (const char *c = raw; *c; c++) {
        unsigned char ch = (unsigned char)*c;
        int plain = ch >= 0x20 && ch <= 0x7e;
        if (n + (plain ? 1 : 4) >= sizeof spec_err)
            break;
        if (plain)
            spec_err[n++] = (char)ch;
        else
            n += (size_t)snprintf(spec_err + n, sizeof spec_err - n, "\\x%02x", ch);
    }
    spec_err[n] = '\0';
    return NBLOG_EINVAL;
}

void nblog__spec_error_set(const char *msg)
{
    spec_fail("%s", msg);
}

/* Whether val is 1..max bytes, each in lo..'~' (printable ASCII, with or
 * without the space): names and header fields are text. Else NBLOG_EINVAL,
 * with a sentence naming the option and the first bad byte. */
static int check_text(const char *key, const char *val, size_t max, unsigned char lo)
{
    size_t n = strlen(val);
    if (n == 0 || n > max)
        return spec_fail("option %s=%s: 1 to %zu bytes", key, val, max);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)val[i];
        if (ch < lo || ch > '~')
            return spec_fail("option %s=%s: byte %zu (0x%02x) is not printable ASCII%s",
                             key, val, i + 1, ch, lo > ' ' ? " (nor a space)" : "");
    }
    return NBLOG_OK;
}

/* ------------------------------------------------------------- kinds */

#define EXTRA_MAX 8 /* kind-specific options one spec may carry */

/* A kind's own options: "key=value" strings, NULL-terminated. */
typedef int make_fn(const char *kind, const char *arg, const nblog_console_opts_t *o,
                    char *const *extra, nblog_console_t **out);

static int no_extra(const char *kind, char *const *extra)
{
    if (!extra[0])
        return NBLOG_OK;
    return spec_fail("unknown option \"%s\" for %s (level, format, mode, name, stall_ms, color, time, show)",
                     extra[0], kind);
}

static int make_stderr(const char *kind, const char *arg, const nblog_console_opts_t *o,
                       char *const *extra, nblog_console_t **out)
{
    (void)arg;
    int rc = no_extra(kind, extra);
    /* Pinned: "stderr" is the program's stderr as it is now, not
     * whatever file takes fd 2 later ("fd:2" is that; fd.c, PINNED). */
    return rc ? rc : nblog__console_stderr_pinned(o, out);
}

static int make_fd(const char *kind, const char *arg, const nblog_console_opts_t *o,
                   char *const *extra, nblog_console_t **out)
{
    int rc = no_extra(kind, extra);
    if (rc)
        return rc;
    char *end;
    errno = 0;
    long fd = strtol(arg, &end, 10);
    if (errno || end == arg || *end || fd < 0 || fd > INT_MAX)
        return spec_fail("fd: \"%s\" is not a file descriptor number", arg);
    return nblog_console_fd((int)fd, o, out);
}

static int make_file(const char *kind, const char *arg, const nblog_console_opts_t *o,
                     char *const *extra, nblog_console_t **out)
{
    int rc = no_extra(kind, extra);
    if (rc)
        return rc;
    errno = 0;
    rc = nblog_console_file(arg, 0, 0, o, out);
    if (rc != NBLOG_OK && errno) /* say why the file would not open */
        return spec_fail("file:%s: %s", arg, strerror(errno));
    return rc;
}

static int parse_on_off(const char *key, const char *val, int *out)
{
    if (!strcmp(val, "on") || !strcmp(val, "1") || !strcmp(val, "yes"))
        *out = 1;
    else if (!strcmp(val, "off") || !strcmp(val, "0") || !strcmp(val, "no"))
        *out = 0;
    else
        return spec_fail("option %s=%s: expected on or off", key, val);
    return NBLOG_OK;
}

/* syslog facility: 0..23, or a name. */
static int parse_facility(const char *val, int *out)
{
    static const char *const names[24] = {
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
        "uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
        "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"};
    for (int i = 0; i < 24; i++)
        if (!strcmp(val, names[i])) {
            *out = i;
            return NBLOG_OK;
        }
    char *end;
    long f = strtol(val, &end, 10);
    if (end == val || *end || f < 0 || f > 23)
        return spec_fail("option facility=%s: expected 0..23 or a name (user, daemon, local0..local7, ...)",
                         val);
    *out = (int)f;
    return NBLOG_OK;
}

/* syslog+tls's options (files are paths, the peer a host name or an
 * address): 1 if key is one, *rc set. */
static int tls_option(const char *key, const char *val, nblog_syslog_opts_t *so, int *rc)
{
    const char **field = !strcmp(key, "ca")     ? &so->tls_ca_file
                         : !strcmp(key, "cert") ? &so->tls_cert_file
                         : !strcmp(key, "key")  ? &so->tls_key_file
                         : !strcmp(key, "peer") ? &so->tls_peer_name
                                                : NULL;
    if (!field)
        return 0;
    *rc = !*val ? spec_fail("option %s= needs a value", key)
                : !strcmp(key, "peer") ? check_text(key, val, 255, '!') : NBLOG_OK;
    *field = val;
    return 1;
}

/* The syslog and journald kinds' own options into *so. */
static int syslog_options(const char *kind, char *const *extra, nblog_syslog_opts_t *so)
{
    int tls = !strcmp(kind, "syslog+tls");
    for (; *extra; extra++) {
        const char *key = *extra, *val = strchr(key, '\0') + 1; /* split by apply_option */
        int rc = NBLOG_OK;
        /* The header fields' limits (RFC 5424 6.2), printable, no spaces. */
        if (!strcmp(key, "app"))
            rc = check_text(key, val, 48, '!'), so->app_name = val;
        else if (!strcmp(key, "msgid"))
            rc = check_text(key, val, 32, '!'), so->msgid = val;
        else if (!strcmp(key, "hostname"))
            rc = check_text(key, val, 255, '!'), so->hostname = val;
        else if (!strcmp(key, "facility"))
            rc = parse_facility(val, &so->facility);
        else if (!strcmp(key, "sd"))
            rc = parse_on_off(key, val, &so->structured_data);
        else if (!strcmp(key, "rfc3164"))
            rc = parse_on_off(key, val, &so->rfc3164);
        else if (tls && tls_option(key, val, so, &rc))
            ;
        else
            rc = spec_fail("unknown option \"%s\" for %s (level, format, mode, name, stall_ms, "
                           "color, time, show, "
                           "app, facility, sd, rfc3164, msgid, hostname%s)", key, kind,
                           tls ? ", ca, cert, key, peer" : "");
        if (rc)
            return rc;
    }
    return NBLOG_OK;
}

static int make_syslog(const char *kind, const char *arg, const nblog_console_opts_t *o,
                       char *const *extra, nblog_console_t **out)
{
    nblog_syslog_opts_t so;
    nblog_syslog_opts_init(&so);
    int rc = syslog_options(kind, extra, &so);
    if (rc)
        return rc;
    char url[SPEC_MAX];
    snprintf(url, sizeof url, "%s:%s", kind, arg);
    rc = nblog_console_syslog(url, &so, o, out);
    if (rc == NBLOG_EINVAL)
        return spec_fail("%s: cannot use \"%s\" (expected syslog+udp://HOST:PORT, "
                         "syslog+tcp://HOST:PORT, syslog+tls://HOST[:PORT] with files "
                         "that load, or unix:PATH)", kind, url);
    return rc;
}

static int make_journald(const char *kind, const char *arg, const nblog_console_opts_t *o,
                         char *const *extra, nblog_console_t **out)
{
    nblog_syslog_opts_t so;
    nblog_syslog_opts_init(&so);
    int rc = syslog_options(kind, extra, &so);
    return rc ? rc : nblog_console_journald(*arg ? arg : NULL, &so, o, out);
}

enum { ARG_NONE, ARG_REQUIRED, ARG_OPTIONAL };

static const struct spec_kind {
    const char *kind;
    int arg;
    make_fn *make;
} kinds[] = {
    {"stderr", ARG_NONE, make_stderr},
    {"fd", ARG_REQUIRED, make_fd},
    {"file", ARG_REQUIRED, make_file},
    {"syslog+udp", ARG_REQUIRED, make_syslog},
    {"syslog+tcp", ARG_REQUIRED, make_syslog},
    {"syslog+tls", ARG_REQUIRED, make_syslog},
    {"unix", ARG_REQUIRED, make_syslog},
    {"journald", ARG_OPTIONAL, make_journald},
};

static const struct spec_kind *find_kind(const char *name)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i].kind, name) == 0)
            return &kinds[i];
    return NULL;
}

/* ----------------------------------------------------------- options */

static int parse_choice(const char *key, const char *val, const char *a,
                        const char *b, int *out)
{
    if (strcmp(val, a) == 0)
        *out = 0;
    else if (strcmp(val, b) == 0)
        *out = 1;
    else
        return spec_fail("option %s=%s: expected %s or %s", key, val, a, b);
    return NBLOG_OK;
}

/* format=: plain, kmsg, human, json or pattern:PATTERN (the pattern is
 * checked when the console registers; it points into the spec's copy). */
static int parse_format(const char *val, nblog_console_opts_t *o)
{
    static const struct {
        const char *name;
        int format;
    } formats[] = {{"plain", NBLOG_FORMAT_PLAIN}, {"kmsg", NBLOG_FORMAT_KMSG},
                   {"human", NBLOG_FORMAT_HUMAN}, {"json", NBLOG_FORMAT_JSON}};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (strcmp(val, formats[i].name) == 0) {
            o->format = formats[i].format;
            return NBLOG_OK;
        }
    if (strncmp(val, "pattern:", 8) == 0) {
        o->format = NBLOG_FORMAT_PATTERN;
        o->pattern = val + 8;
        return NBLOG_OK;
    }
    return spec_fail("option format=%s: expected plain, kmsg, human, json or pattern:PATTERN",
                     val);
}

_Static_assert(NBLOG_COLOR_AUTO == 0 && NBLOG_COLOR_NEVER == 1 && NBLOG_COLOR_ALWAYS == 2,
               "color= maps names to values by their index");
_Static_assert(NBLOG_SHOW_PROGRAM == 1u && NBLOG_SHOW_PID == 2u && NBLOG_SHOW_TID == 4u &&
                   NBLOG_SHOW_LOCATION == 8u,
               "show= maps names to bits by their index");

/* show=: '+'-separated program, pid, tid, location (what the human format
 * shows). */
static int parse_show(const char *val, nblog_console_opts_t *o)
{
    static const char *const fields[] = {"program", "pid", "tid", "location"};
    const size_t nfields = sizeof fields / sizeof fields[0];
    unsigned show = 0;
    for (const char *p = val;;) {
        size_t n = strcspn(p, "+"), i = 0;
        while (i < nfields && !(strlen(fields[i]) == n && strncmp(p, fields[i], n) == 0))
            i++;
        if (i == nfields)
            return spec_fail("option show=%s: expected program, pid, tid and location "
                             "joined by '+'",
                             val);
        show |= 1u << i; /* NBLOG_SHOW_PROGRAM, PID, TID, LOCATION */
        if (!p[n])
            break;
        p += n + 1;
    }
    o->show = show;
    return NBLOG_OK;
}

/* One "key=value" into *o (name copied into name_buf). An option that is
 * not a common one is left, split at '=' into "key\0value", for the kind:
 * returns 1. */
static int apply_option(char *opt, nblog_console_opts_t *o, char *name_buf)
{
    char *eq = strchr(opt, '=');
    if (!eq || eq == opt)
        return spec_fail("option \"%s\": expected key=value", opt);
    *eq = '\0';
    const char *key = opt, *val = eq + 1;
    if (strcmp(key, "level") == 0) {
        int level = nblog_level_parse(val);
        if (level < 0)
            return spec_fail("option level=%s: not a level (emerg..debug or 0..7)", val);
        o->level = level;
        return NBLOG_OK;
    }
    if (strcmp(key, "format") == 0)
        return parse_format(val, o);
    if (strcmp(key, "color") == 0) {
        static const char *const colors[] = {"auto", "never", "always"};
        for (int i = 0; i < 3; i++)
            if (strcmp(val, colors[i]) == 0) {
                o->color = i; /* NBLOG_COLOR_AUTO, NEVER, ALWAYS */
                return NBLOG_OK;
            }
        return spec_fail("option color=%s: expected auto, always or never", val);
    }
    if (strcmp(key, "time") == 0)
        return parse_choice(key, val, "utc", "local", &o->local_time);
    if (strcmp(key, "show") == 0)
        return parse_show(val, o);
    if (strcmp(key, "mode") == 0)
        return parse_choice(key, val, "threaded", "direct", &o->mode);
    if (strcmp(key, "name") == 0) {
        int rc = check_text(key, val, NAME_MAX_BYTES, ' ');
        if (rc)
            return rc;
        strcpy(name_buf, val);
        o->name = name_buf;
        return NBLOG_OK;
    }
    if (strcmp(key, "stall_ms") == 0) {
        char *end;
        errno = 0;
        unsigned long ms = strtoul(val, &end, 10);
        if (errno || end == val || *end || ms > UINT_MAX)
            return spec_fail("option stall_ms=%s: not a number of milliseconds", val);
        o->stall_ms = (unsigned)ms;
        return NBLOG_OK;
    }
    return 1; /* the kind's own */
}

int nblog_console_from_spec(const char *spec, nblog_console_t **out)
{
    char buf[SPEC_MAX], name_buf[NAME_MAX_BYTES + 1];
    spec_err[0] = '\0';
    if (!spec || !*spec)
        return spec_fail("empty console spec");
    if (strlen(spec) >= sizeof buf)
        return spec_fail("console spec longer than %d bytes", SPEC_MAX - 1);
    strcpy(buf, spec);
    char *rest = buf + strcspn(buf, ",");
    char *options = *rest ? rest + 1 : NULL;
    *rest = '\0';
    char *colon = strchr(buf, ':');
    char *arg = colon ? colon + 1 : NULL;
    if (colon)
        *colon = '\0';

    const struct spec_kind *k = find_kind(buf);
    if (!k)
        return spec_fail("unknown console kind \"%s\" in \"%s\" (stderr, fd:N, file:PATH, "
                         "syslog+udp://HOST:PORT, syslog+tcp://HOST:PORT, syslog+tls://HOST[:PORT], unix:PATH, "
                         "journald[:PATH])", buf, spec);
    if (k->arg == ARG_REQUIRED && (!arg || !*arg))
        return spec_fail("console kind \"%s\" needs an argument (%s:...)", k->kind, k->kind);
    if (k->arg == ARG_NONE && arg)
        return spec_fail("console kind \"%s\" takes no argument, got \"%s\"", k->kind, arg);

    nblog_console_opts_t o;
    nblog_console_opts_init(&o); /* name NULL: the console's kind and target */
    /* "stderr" is the default console's kind: the same lines (human), so
     * NBLOG_CONSOLES=stderr,level=err is the default console filtered. */
    if (k->make == make_stderr)
        o.format = DEFAULT_CONSOLE_FORMAT;
    char *extra[EXTRA_MAX + 1];
    int n_extra = 0;
    for (char *opt = options; opt;) {
        /* A pattern runs to the end of the spec, commas and all. */
        char *next = strncmp(opt, "format=pattern:", 15) == 0 ? NULL : strchr(opt, ',');
        if (next)
            *next++ = '\0';
        int rc = apply_option(opt, &o, name_buf);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            if (n_extra == EXTRA_MAX)
                return spec_fail("more than %d options for %s", EXTRA_MAX, k->kind);
            extra[n_extra++] = opt;
        }
        opt = next;
    }
    extra[n_extra] = NULL;
    nblog_console_t *con = NULL;
    int rc = k->make(k->kind, arg ? arg : "", &o, extra, &con);
    if (rc != NBLOG_OK && !spec_err[0])
        spec_fail("console \"%s\": %s", spec, nblog_strerror(rc));
    if (rc == NBLOG_OK && out)
        *out = con;
    return rc;
}

/* What the last init did with NBLOG_CONSOLES (written in INITING, read by
 * nblog_consoles_from_env after it): the value it read ("" for none), and
 * how many consoles it registered from it. */
static char init_env[SPEC_MAX * 4];
static int init_env_count;

/* Registers every ';'-separated spec of list; on the first error,
 * unregisters the ones it registered and returns it (spec_err says why).
 * Returns how many it registered. */
static int register_list(const char *list)
{
    char buf[SPEC_MAX * 4];
    nblog_console_t *made[64];
    int count = 0, rc = 0;
    if (strlen(list) >= sizeof buf)
        return spec_fail("NBLOG_CONSOLES is longer than %zu bytes", sizeof buf - 1);
    strcpy(buf, list);
    char *save = NULL;
    for (char *spec = strtok_r(buf, ";", &save); spec && rc == 0;
         spec = strtok_r(NULL, ";", &save)) {
        if (count == (int)(sizeof made / sizeof made[0]))
            rc = spec_fail("NBLOG_CONSOLES names more than %d consoles", count);
        else
            rc = nblog_console_from_spec(spec, &made[count]);
        if (rc == NBLOG_OK)
            count++;
    }
    if (rc == 0)
        return count;
    while (count > 0) /* all or nothing: a bad variable is ignored whole */
        nblog_console_unregister(made[--count]);
    return rc;
}

/* How init starts the consoles (nblog.h, "Consoles at init"). */

void nblog__consoles_at_init(unsigned flags, int for_console)
{
    const char *env = flags & NBLOG_NO_ENV_CONSOLES ? NULL : getenv("NBLOG_CONSOLES");
    int want_default = !(flags & NBLOG_NO_DEFAULT_CONSOLE) && !for_console;
    init_env[0] = '\0';
    init_env_count = 0;
    nblog__console_init_mark(1);
    if (env && *env && strlen(env) < sizeof init_env)
        strcpy(init_env, env);
    if (env && *env && strcmp(env, "none") == 0) {
        want_default = 0;
    } else if (env && *env) {
        int rc = register_list(env);
        if (rc >= 0) {
            init_env_count = rc;
            want_default = 0;
        } else {
            /* One line, and nothing lost: the default console instead. */
            nblog__complain("NBLOG_CONSOLES ignored: %s; %s", spec_err,
                            want_default ? "logging to stderr" : "no console from it");
            init_env[0] = '\0';
        }
    }
    /* No default console when fd 2 is not open: the program closed its
     * stderr, and the next file it opens gets 2. Pinned: it stops writing
     * once fd 2 is no longer what it is now (fd.c, PINNED). */
    if (want_default && fcntl(STDERR_FILENO, F_GETFD) < 0)
        want_default = 0;
    if (want_default) {
        nblog_console_opts_t o;
        nblog_console_opts_init(&o);
        o.format = DEFAULT_CONSOLE_FORMAT;
        nblog_console_t *con;
        if (nblog__console_stderr_pinned(&o, &con) == NBLOG_OK)
            nblog__console_make_default(con);
    }
    nblog__console_init_mark(0);
}

int nblog_consoles_from_env(void)
{
    const char *env = getenv("NBLOG_CONSOLES");
    spec_err[0] = '\0';
    if (!env || !*env || strcmp(env, "none") == 0)
        return 0;
    /* nblog_init read it already: what it registered stays, once. */
    nblog__init_lazily(1);
    if (init_env[0] && strcmp(env, init_env) == 0)
        return init_env_count;
    return register_list(env);
}

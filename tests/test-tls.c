/*
 * test-tls.c - syslog+tls:// (RFC 5425) against a real rsyslog with its
 * TLS driver (Debian rsyslog-gnutls: lmnsd_gtls), on loopback, with
 * certificates this test makes with certtool (gnutls-bin): a CA, a
 * server certificate for localhost and 127.0.0.1 signed by it, a client
 * certificate, and a second CA that signed nothing of ours.
 * scripts/setup-debian.sh installs both packages; without them the tests
 * fail, they do not skip.
 *
 * What is checked: records complete and in order over a collector
 * restart (resent copies aside, first arrivals in seq order) with a file
 * console beside it getting everything; a certificate refused (the name
 * does not match, or the CA is not ours) is reported as last_error
 * -EACCES, retried, and nothing counts printed; a peer that accepts TCP
 * and never handshakes, and an rsyslog stopped (SIGSTOP) mid-stream, stop
 * only the TLS console while the file console prints everything; a client
 * certificate from a spec gets into an rsyslog that wants one. The
 * fixture (rsyslogd, the tally in seq space, the producer) is rsyslog.h,
 * shared with test-syslog.c. Timing is never asserted: waits are bounded
 * only so a failure ends.
 */
#include "rsyslog.h"

#include <errno.h>
#include <poll.h>

#define CERTTOOL "/usr/bin/certtool"

/* ---- certificates ------------------------------------------------------ */

/* Writes text to dir/name. */
static void put_file(const char *dir, const char *name, const char *text)
{
    char path[192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void certtool(const char *dir, const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd %s && " CERTTOOL " %s >>certtool.log 2>&1", dir, args);
    if (system(cmd) != 0)
        fail_msg("certtool failed: %s (see %s/certtool.log)", args, dir);
}

/* In dir: ca.pem, server.pem + server-key.pem (localhost, 127.0.0.1),
 * client.pem + client-key.pem (nblog-client), other-ca.pem. */
static void make_certs(const char *dir)
{
    if (access(CERTTOOL, X_OK) != 0)
        fail_msg("%s not found: install gnutls-bin (scripts/setup-debian.sh does)", CERTTOOL);
    put_file(dir, "ca.tmpl", "cn = \"nblog test CA\"\nca\ncert_signing_key\nexpiration_days = 2\n");
    put_file(dir, "other.tmpl", "cn = \"someone else's CA\"\nca\ncert_signing_key\n"
                                "expiration_days = 2\n");
    put_file(dir, "server.tmpl", "cn = \"localhost\"\ndns_name = \"localhost\"\n"
                                 "ip_address = \"127.0.0.1\"\ntls_www_server\nsigning_key\n"
                                 "encryption_key\nexpiration_days = 2\n");
    put_file(dir, "client.tmpl", "cn = \"nblog-client\"\ndns_name = \"nblog-client\"\n"
                                 "tls_www_client\nsigning_key\nexpiration_days = 2\n");
    static const char *const keys[] = {"ca", "other-ca", "server", "client"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char args[128];
        snprintf(args, sizeof args, "--generate-privkey --ecc --outfile %s-key.pem", keys[i]);
        certtool(dir, args);
    }
    certtool(dir, "--generate-self-signed --load-privkey ca-key.pem --template ca.tmpl "
                  "--outfile ca.pem");
    certtool(dir, "--generate-self-signed --load-privkey other-ca-key.pem --template other.tmpl "
                  "--outfile other-ca.pem");
    certtool(dir, "--generate-certificate --load-privkey server-key.pem --load-ca-certificate "
                  "ca.pem --load-ca-privkey ca-key.pem --template server.tmpl --outfile server.pem");
    certtool(dir, "--generate-certificate --load-privkey client-key.pem --load-ca-certificate "
                  "ca.pem --load-ca-privkey ca-key.pem --template client.tmpl --outfile client.pem");
}

/* The path of a file made by make_certs in r's directory (static: one at
 * a time per slot). */
static const char *cert_path(const struct rsys *r, const char *name, int slot)
{
    static char paths[4][160];
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", r->dir, name);
    return paths[slot];
}

/* An rsyslog with a TLS input (tcp_port) and the certificates, running.
 * client_name: it lets in only a client whose certificate carries it. */
static void rsys_tls_up(struct rsys *r, const char *client_name)
{
    rsys_init(r);
    make_certs(r->dir);
    snprintf(r->tls_ca, sizeof r->tls_ca, "%s/ca.pem", r->dir);
    snprintf(r->tls_cert, sizeof r->tls_cert, "%s/server.pem", r->dir);
    snprintf(r->tls_key, sizeof r->tls_key, "%s/server-key.pem", r->dir);
    r->tls_client_name = client_name;
    rsys_write_conf(r);
    rsys_start(r);
}

/* A TLS console to r trusting ca (a file of r's directory), verifying
 * peer (NULL: the url's host, 127.0.0.1). */
static nblog_console_t *tls_console(const struct rsys *r, const char *ca, const char *peer)
{
    nblog_syslog_opts_t so;
    nblog_syslog_opts_init(&so);
    so.tls_ca_file = cert_path(r, ca, 0);
    so.tls_peer_name = peer;
    return syslog_console("tls", r->tcp_port, &so);
}

/* A TLS console to a running TLS rsyslog r (trusting its CA, checking
 * 127.0.0.1) and a file console in r's directory (path: its file). */
static nblog_console_t *tls_and_file(struct rsys *r, char *path, size_t cap,
                                     nblog_console_t **file)
{
    rsys_tls_up(r, NULL);
    nblog_console_t *con = tls_console(r, "ca.pem", NULL);
    snprintf(path, cap, "%s/file.log", r->dir);
    *file = file_console(path);
    return con;
}

static nblog_net_stats_t net_stats(nblog_console_t *con)
{
    nblog_net_stats_t ns;
    assert_int_equal(nblog_console_net_stats(con, &ns), NBLOG_OK);
    return ns;
}

/* ---- tests ------------------------------------------------------------- */

/* rsyslog stopped gracefully mid-stream and started again: every seq
 * arrives, first arrivals in seq order (one TLS stream into rsyslog's one
 * worker), nothing dropped (the producer paces on the TLS console's lag,
 * and the ring is big); the file console gets everything throughout. */
static void test_tls_restart_complete_in_order(void **state)
{
    (void)state;
    struct rsys r;
    char path[128];
    nblog_console_t *file, *con = tls_and_file(&r, path, sizeof path, &file);
    struct producer p = {.n = SCALED(30000), .pace_on = file};
    restart_midstream(&r, con, &p);
    struct tally t;
    nblog_console_stats_t st = tally_all(&r, con, "tls restart", &t);
    nblog_net_stats_t ns = net_stats(con);
    print_message("tls restart: printed %llu dropped %llu; connects %llu disconnects %llu "
                  "resent frames %llu first arrivals out of order %llu\n",
                  (unsigned long long)st.printed, (unsigned long long)st.dropped,
                  (unsigned long long)ns.connects, (unsigned long long)ns.disconnects,
                  (unsigned long long)ns.resent_frames,
                  (unsigned long long)t.first_out_of_order);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(t.received, st.next_seq - st.start_seq);
    assert_int_equal(t.first_out_of_order, 0);
    assert_true(ns.connects >= 2);
    assert_int_equal(st.last_error, 0);
    tu_assert_books(con);
    tu_assert_books(file);
    assert_int_equal(stats(file).dropped, 0);
    assert_file_complete(path, p.n);
    tally_free(&t);
    rsys_cleanup(&r);
}

/* A console whose check refuses the collector's certificate: -EACCES in
 * last_error, retried with backoff, never connected, nothing printed, and
 * nothing of ours in rsyslog's file. */
static void refused(const char *ca, const char *peer)
{
    struct rsys r;
    rsys_tls_up(&r, NULL);
    nblog_console_t *con = tls_console(&r, ca, peer);
    log_range(0, 100, NULL);
    nblog_net_stats_t ns;
    for (int i = 0; i < 1000; i++) {
        ns = net_stats(con);
        if (ns.connect_failures >= 3)
            break;
        msleep(10);
    }
    nblog_console_stats_t st = stats(con);
    print_message("refused (ca %s, peer %s): last_error %d connect failures %llu\n", ca,
                  peer ? peer : "(the host)", st.last_error,
                  (unsigned long long)ns.connect_failures);
    assert_true(ns.connect_failures >= 3); /* retried */
    assert_int_equal(ns.connects, 0);
    assert_int_equal(ns.connected, 0);
    assert_int_equal(st.last_error, -EACCES);
    assert_int_equal(st.printed, 0);
    assert_int_equal(st.write_failed, 0); /* they wait: not failed, not dropped */
    assert_int_equal(st.dropped, 0);
    assert_true(st.lag >= 100);
    assert_int_equal(nblog_flush(0, NULL, 0), 1);
    size_t len;
    char *out = slurp(r.out, &len);
    assert_null(strstr(out, "nblogtest"));
    free(out);
    tu_assert_books(con);
    assert_int_equal(nblog_console_unregister(con), NBLOG_OK);
    rsys_cleanup(&r);
}

static void test_tls_peer_name_mismatch_refused(void **state)
{
    (void)state;
    refused("ca.pem", "collector.example.org");
}

static void test_tls_untrusted_ca_refused(void **state)
{
    (void)state;
    refused("other-ca.pem", NULL);
}

/* A peer that accepts TCP and never says a word of TLS: the handshake
 * times out on the console's own thread (last_error -ETIMEDOUT, retried),
 * the logging calls and a file console go on; flush names only it. */
static void test_tls_silent_peer_stops_only_its_console(void **state)
{
    (void)state;
    int port, ls = tcp_listener(16, &port); /* the kernel accepts; we never read */
    char dir[64], path[80], ca[96];
    assert_non_null(tu_temp_dir(dir, sizeof dir, "tlssilent"));
    make_certs(dir);
    snprintf(path, sizeof path, "%s/file.log", dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    nblog_syslog_opts_t so;
    nblog_syslog_opts_init(&so);
    so.tls_ca_file = ca;
    so.connect_timeout_ms = 300;
    nblog_console_t *con = syslog_console("tls", port, &so);
    nblog_console_t *file = file_console(path);
    char name[64];
    snprintf(name, sizeof name, "syslog+tls://127.0.0.1:%d", port);
    assert_only_stalled(file, path, 0, SCALED(50000), name);
    for (int i = 0; i < 1000 && stats(con).last_error == 0; i++)
        msleep(10);
    print_message("silent peer: last_error %d\n", stats(con).last_error);
    assert_int_equal(stats(con).last_error, -ETIMEDOUT);
    assert_int_equal(stats(con).printed, 0);
    assert_int_equal(net_stats(con).connects, 0);
    tu_assert_books(con);
    tu_assert_books(file);
    assert_int_equal(nblog_console_unregister(con), NBLOG_OK);
    assert_int_equal(nblog_console_unregister(file), NBLOG_OK);
    close(ls);
    assert_int_equal(tu_remove_dir(dir), 0);
}

/* rsyslog stopped (SIGSTOP) with the session up: the TLS console stalls,
 * a file console prints everything meanwhile; after SIGCONT every record
 * reaches rsyslog. */
static void test_tls_stopped_collector_stops_only_its_console(void **state)
{
    (void)state;
    struct rsys r;
    char path[128];
    nblog_console_t *file, *con = tls_and_file(&r, path, sizeof path, &file);
    log_range(0, 100, NULL);
    assert_int_equal(nblog_flush(60000, NULL, 0), 0); /* connected and delivering */
    assert_int_equal(kill(r.pid, SIGSTOP), 0);
    char name[64];
    snprintf(name, sizeof name, "syslog+tls://127.0.0.1:%d", r.tcp_port);
    /* More than the socket buffers and the history hold. */
    assert_only_stalled(file, path, 100, SCALED(40000), name);
    print_message("stopped collector: tls lag %llu\n", (unsigned long long)stats(con).lag);
    assert_int_equal(kill(r.pid, SIGCONT), 0);
    assert_int_equal(nblog_flush(60000, NULL, 0), 0);
    struct tally t;
    nblog_console_stats_t st = tally_all(&r, con, "stopped collector", &t);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(t.first_out_of_order, 0);
    tu_assert_books(con);
    tu_assert_books(file);
    tally_free(&t);
    rsys_cleanup(&r);
}

/* From a spec: CA, client certificate and key, peer name; an rsyslog that
 * lets in only our client's name gets every record. */
static void test_tls_client_certificate_from_spec(void **state)
{
    (void)state;
    struct rsys r;
    rsys_tls_up(&r, "nblog-client");
    char spec[768];
    snprintf(spec, sizeof spec,
             "syslog+tls://localhost:%d,ca=%s/ca.pem,cert=%s/client.pem,key=%s/client-key.pem,"
             "peer=localhost,app=nblogtest",
             r.tcp_port, r.dir, r.dir, r.dir);
    nblog_console_t *con = NULL;
    assert_int_equal(nblog_console_from_spec(spec, &con), NBLOG_OK);
    log_range(0, 2000, NULL);
    assert_int_equal(nblog_flush(60000, NULL, 0), 0);
    struct tally t;
    nblog_console_stats_t st = tally_all(&r, con, "client certificate", &t);
    assert_int_equal(t.received, 2000);
    assert_int_equal(st.last_error, 0);
    tally_free(&t);
    rsys_cleanup(&r);
}

/* The spec and option checks: TLS options only for syslog+tls, files
 * that load, a certificate with its key; the default port is 6514. */
static void test_tls_options_checked(void **state)
{
    (void)state;
    char dir[64], spec[512];
    assert_non_null(tu_temp_dir(dir, sizeof dir, "tlsopts"));
    make_certs(dir);
    assert_int_equal(nblog_console_from_spec("syslog+tcp://127.0.0.1:1,ca=/etc/hostname", NULL),
                     NBLOG_EINVAL);
    print_message("%s\n", nblog_spec_error());
    assert_non_null(strstr(nblog_spec_error(), "unknown option \"ca\""));
    assert_int_equal(nblog_console_from_spec("syslog+tls://127.0.0.1:1,ca=/nonexistent/ca.pem",
                                             NULL),
                     NBLOG_EINVAL);
    snprintf(spec, sizeof spec, "syslog+tls://127.0.0.1:1,ca=%s/ca.pem,cert=%s/client.pem", dir,
             dir);
    assert_int_equal(nblog_console_from_spec(spec, NULL), NBLOG_EINVAL); /* no key */
    snprintf(spec, sizeof spec, "syslog+tls://127.0.0.1:1,ca=%s/client-key.pem", dir);
    assert_int_equal(nblog_console_from_spec(spec, NULL), NBLOG_EINVAL); /* not a CA */
    assert_int_equal(nblog_console_from_spec("syslog+tls://127.0.0.1:1,ca=", NULL), NBLOG_EINVAL);
    assert_int_equal(nblog_console_from_spec("syslog+udp://127.0.0.1:1,peer=x", NULL),
                     NBLOG_EINVAL);
    /* No write_atomic, so no direct mode: the handshake is the printer's. */
    snprintf(spec, sizeof spec, "syslog+tls://127.0.0.1:1,ca=%s/ca.pem,mode=direct", dir);
    assert_int_equal(nblog_console_from_spec(spec, NULL), NBLOG_EINVAL);
    nblog_syslog_opts_t so;
    nblog_syslog_opts_init(&so);
    so.tls_peer_name = "localhost";
    nblog_console_t *con = NULL;
    assert_int_equal(nblog_console_syslog("syslog+tcp://127.0.0.1:1", &so, NULL, &con),
                     NBLOG_EINVAL); /* TLS options on plain TCP */
    assert_int_equal(nblog_console_syslog("syslog+udp://127.0.0.1:1", &so, NULL, &con),
                     NBLOG_EINVAL); /* or UDP */
    snprintf(spec, sizeof spec, "syslog+tls://127.0.0.1,ca=%s/ca.pem", dir);
    assert_int_equal(nblog_console_from_spec(spec, &con), NBLOG_OK);
    assert_string_equal(stats(con).name, "syslog+tls://127.0.0.1");
    assert_int_equal(nblog_console_unregister(con), NBLOG_OK);
    assert_int_equal(tu_remove_dir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tls_restart_complete_in_order, setup_big, teardown),
        cmocka_unit_test_setup_teardown(test_tls_peer_name_mismatch_refused, setup_big, teardown),
        cmocka_unit_test_setup_teardown(test_tls_untrusted_ca_refused, setup_big, teardown),
        cmocka_unit_test_setup_teardown(test_tls_silent_peer_stops_only_its_console, setup_big,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tls_stopped_collector_stops_only_its_console,
                                        setup_big, teardown),
        cmocka_unit_test_setup_teardown(test_tls_client_certificate_from_spec, setup_big,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tls_options_checked, setup_big, teardown),
    };
    if (getenv("NBLOG_TEST_FILTER"))
        cmocka_set_test_filter(getenv("NBLOG_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}

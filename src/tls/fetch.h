/* fetch.h — what the helper processes share (fetch.c): the OCSP helper (ocsp-fetch.c) and the
 * ACME helper (acme.c) both run libcurl transfers that a SIGTERM ends within milliseconds,
 * retry with jittered backoff, and write their files atomically (docs/certificates.md). */
#ifndef PORTICO_FETCH_H
#define PORTICO_FETCH_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Blocks SIGTERM and SIGINT and opens the signalfd every wait polls. -1 (logged as WHO) on
 * failure. */
int pc_fetch_stop_init(const char *who);
/* Whether a stop was asked for. */
bool pc_fetch_stopping(void);
/* The options every helper transfer takes: URL over PROTOCOLS ("https", "http,https"), at most
 * TIMEOUT seconds in all and CONNECT to connect, no signals, AGENT as User-Agent, the body to
 * WRITE(DATA), curl's message in ERR (CURL_ERROR_SIZE). */
void pc_fetch_setopt(CURL *h, const char *url, const char *protocols, long timeout, long connect,
                     const char *agent, curl_write_callback write, void *data, char *err);
/* Runs the transfer H to its end, or until a stop is asked for (CURLE_ABORTED_BY_CALLBACK). */
CURLcode pc_fetch_perform(CURL *h);
/* Waits SECS seconds, or until a stop is asked for. */
void pc_fetch_sleep(time_t secs);
/* 10% of jitter either way around SECS, so that several nodes do not ask in step. */
time_t pc_fetch_jitter(time_t secs);
/* Closes the signalfd. */
void pc_fetch_stop_close(const char *who);

/* Writes DATA[0, LEN) to PATH atomically (PATH.tmp, mode MODE, O_NOFOLLOW, fsync, rename,
 * directory fsync): a crash leaves the old file or the new one. 0, or -1 with errno. */
int pc_fetch_write_atomic(const char *path, const void *data, size_t len, int mode);

#endif

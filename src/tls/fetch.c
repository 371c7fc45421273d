/* fetch.c — what the OCSP and ACME helper processes share (fetch.h).
 *
 * Stopping: the master sends SIGTERM (a reload, a stop) and waits. The signal is read from a
 * signalfd that every wait here polls, a request in flight included (curl's multi interface),
 * so a helper ends within milliseconds, its files whole. */
#include "tls/fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

static int stop_fd = -1; /* signalfd of SIGTERM and SIGINT */
static bool stopping;

/* Whether a stop was asked for (reads the signalfd when it is readable). */
static bool stop_seen(short revents)
{
    if (revents & POLLIN) {
        struct signalfd_siginfo si;
        if (read(stop_fd, &si, sizeof(si)) == (ssize_t)sizeof(si) || errno != EAGAIN)
            stopping = true;
    }
    return stopping;
}

int pc_fetch_stop_init(const char *who)
{
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    if (sigprocmask(SIG_BLOCK, &stop, NULL) < 0 ||
        (stop_fd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
        pc_err("%s: signalfd: %s: nothing is fetched", who, strerror(errno));
        return -1;
    }
    return 0;
}

bool pc_fetch_stopping(void)
{
    return stopping;
}

void pc_fetch_stop_close(const char *who)
{
    if (stop_fd >= 0 && close(stop_fd) < 0)
        pc_warn("%s: close: %s", who, strerror(errno));
    stop_fd = -1;
}

void pc_fetch_setopt(CURL *h, const char *url, const char *protocols, long timeout, long connect,
                     const char *agent, curl_write_callback write, void *data, char *err)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, protocols);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, connect);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, agent);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, data);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
}

CURLcode pc_fetch_perform(CURL *h)
{
    CURLM *m = curl_multi_init();
    CURLcode cc = CURLE_OUT_OF_MEMORY;
    if (!m || curl_multi_add_handle(m, h) != CURLM_OK) {
        curl_multi_cleanup(m);
        return cc;
    }
    int running = 1;
    while (running) {
        if (curl_multi_perform(m, &running) != CURLM_OK || !running)
            break;
        struct curl_waitfd w = {.fd = stop_fd, .events = CURL_WAIT_POLLIN};
        int n = 0;
        if (curl_multi_poll(m, &w, 1, 1000, &n) != CURLM_OK)
            break;
        if (stop_seen(w.revents & CURL_WAIT_POLLIN ? POLLIN : 0)) {
            cc = CURLE_ABORTED_BY_CALLBACK;
            running = 0;
        }
    }
    int left;
    for (CURLMsg *msg; !stopping && (msg = curl_multi_info_read(m, &left));)
        if (msg->msg == CURLMSG_DONE)
            cc = msg->data.result;
    curl_multi_remove_handle(m, h);
    curl_multi_cleanup(m);
    return cc;
}

void pc_fetch_sleep(time_t secs)
{
    struct timespec end;
    if (clock_gettime(CLOCK_MONOTONIC, &end) < 0) {
        pc_err("clock_gettime: %s", strerror(errno));
        stopping = true;
        return;
    }
    end.tv_sec += secs;
    while (!stopping) {
        struct timespec now;
        if (clock_gettime(CLOCK_MONOTONIC, &now) < 0)
            now = end; /* cannot tell the time: one wait is over */
        long long ms =
            (long long)(end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1000000;
        if (ms <= 0)
            return;
        struct pollfd pf = {.fd = stop_fd, .events = POLLIN};
        int r = poll(&pf, 1, ms > 3600000 ? 3600000 : (int)ms);
        if (r < 0 && errno != EINTR) {
            pc_err("poll: %s", strerror(errno));
            stopping = true;
        }
        if (r > 0)
            stop_seen(pf.revents);
    }
}

time_t pc_fetch_jitter(time_t secs)
{
    unsigned char r = 128;
    if (RAND_bytes(&r, 1) != 1)
        r = 128;
    return secs + (secs / 10) * ((time_t)r - 128) / 128;
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* So that the rename itself survives a crash. */
static void sync_dir(const char *path)
{
    char dir[600];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return;
    *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    if (fsync(fd) < 0)
        pc_warn("fsync %s: %s", dir, strerror(errno));
    if (close(fd) < 0)
        pc_warn("close %s: %s", dir, strerror(errno));
}

int pc_fetch_write_atomic(const char *path, const void *data, size_t len, int mode)
{
    char tmp[600];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -1;
    /* An old temporary file keeps its mode through O_TRUNC: MODE whatever it was. */
    bool ok = fchmod(fd, (mode_t)mode) == 0 && write_all(fd, data, len) == 0 && fsync(fd) == 0;
    int e = errno;
    if (close(fd) < 0 && ok) {
        ok = false;
        e = errno;
    }
    if (ok && rename(tmp, path) < 0) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        if (unlink(tmp) < 0 && errno != ENOENT)
            pc_warn("removing %s: %s", tmp, strerror(errno));
        errno = e;
        return -1;
    }
    sync_dir(path);
    return 0;
}

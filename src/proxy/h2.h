/* h2.h — HTTP/2 client connections (types: proxy/h2-t.h, docs/http2.md). session.c hands a
 * connection over once its TLS handshake chose h2; these are its calls in state PC_S_H2. */
#ifndef PORTICO_H2_H
#define PORTICO_H2_H

#include "proxy/h2-t.h"

/* Takes over S after the handshake: server SETTINGS (RFC 9113 §3.4). 0, or -1 (close S). */
int pc_h2_start(struct pc_session *s);
/* Moves what can be moved: frames in, streams, frames out. 0, or -1 (close S). */
int pc_h2_drive(struct pc_session *s);
/* The events S's socket waits for. */
int pc_h2_events(struct pc_session *s);
/* S's timer fired: per-stream timeout_idle, and the idle connection's timeout_keepalive.
 * 0, or -1 (close S). */
int pc_h2_timer(struct pc_session *s);
/* Graceful stop: GOAWAY, streams in flight finish. */
void pc_h2_drain(struct pc_session *s);
/* S closes: every stream and its transaction end. */
void pc_h2_release(struct pc_session *s);

/* ---- between h2.c (the connection) and h2-stream.c (its streams) ---- */

/* The callbacks of the streams' frames (h2-stream.c). */
void pc_h2_stream_callbacks(nghttp2_session_callbacks *cb);
/* Moves what can be moved for ST: its transaction, its windows, its response. */
void pc_h2_stream_step(struct pc_h2_stream *st);
/* ST's timers: returns when it is next due (0 none), after acting on what is due at NOW. */
double pc_h2_stream_timer(struct pc_h2_stream *st, double now);
/* Ends ST's transaction (the connection closes) and gives ST back. */
void pc_h2_stream_free(struct pc_h2_stream *st);
/* Something moved for one of C's streams: drive C (now, or in the loop already running). */
void pc_h2_kick(struct pc_h2conn *c);

/* ---- between h2.c and h2-limits.c (the budgets of RFC 9113 §10.5, the frames' metrics) ---- */

/* nghttp2's own limits, set explicitly. */
void pc_h2_limits_options(nghttp2_option *opt);
/* The callbacks that count frames in and out. */
void pc_h2_limits_callbacks(nghttp2_session_callbacks *cb);
/* A new connection: full budgets. */
void pc_h2_limits_start(struct pc_h2conn *c);
/* nghttp2_session_mem_recv failed with ERR (fatal: the connection closes without GOAWAY). */
void pc_h2_limits_fatal(int err);

#endif

/*
 * token-double.h: a token service double for unit tests. It serves HTTPS
 * on 127.0.0.1 at a random port with a certificate that openssl makes
 * when the test runs, records each request with the time of the
 * monotonic clock (virtual under the test seams), and answers from a
 * queue of scripted responses or from a handler function.
 *
 * Connections are served one at a time on one thread, so concurrent
 * requests from the code under test queue up and are all counted.
 */
#ifndef EXO_TOKEN_DOUBLE_H
#define EXO_TOKEN_DOUBLE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../src/config.h"
#include "../../src/plat.h"
#include "../../src/stream.h"
#include "../../src/util.h"

/* Not every test program uses every helper. */
#define TD_FN static __attribute__((unused))

#define TD_MAX_REQUESTS 64
#define TD_MAX_QUEUE 16
#define TD_BODY_MAX 16384
#define TD_REPLY_MAX 8192

struct td_reply {
	int	status;
	char	body[TD_REPLY_MAX];
	int	retry_after;		/* 0: no Retry-After field */
	int	delay_ms;		/* real time before the reply */
	int	close_without_reply;
};

/* Fills reply for a request body; runs on the double's thread. */
typedef void (*td_handler)(const char *body, struct td_reply *reply,
    void *ctx);

struct token_double {
	plat_socket			 listener;
	unsigned			 port;
	char				 dir[256];
	struct trust_store		*trust;
	struct tls_server_creds		*creds;
	struct plat_mutex		*mu;
	struct plat_cond		*cond;
	volatile int			 stop;
	int				 running;

	struct td_reply			 queue[TD_MAX_QUEUE];
	int				 queue_head, queue_len;
	td_handler			 handler;
	void				*handler_ctx;

	int				 nrequests;
	char				*requests[TD_MAX_REQUESTS];
	int64_t				 times[TD_MAX_REQUESTS];
};

/* Makes a CA and a server certificate for 127.0.0.1 in dir. */
TD_FN int
td_make_certs(const char *dir)
{
	char	cmd[2048];

	snprintf(cmd, sizeof(cmd),
	    "cd %s && openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem "
	    "-days 2 -subj /CN=exoconnect-test-ca >/dev/null 2>&1 && "
	    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout server.key -out server.csr -subj /CN=127.0.0.1 "
	    ">/dev/null 2>&1 && "
	    "printf 'subjectAltName=DNS:127.0.0.1,IP:127.0.0.1,DNS:localhost"
	    "\\nbasicConstraints=CA:FALSE\\n' > ext.cnf && "
	    "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key "
	    "-CAcreateserial -days 2 -extfile ext.cnf -out server.pem "
	    ">/dev/null 2>&1", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Reads one HTTP request; writes "METHOD PATH BODY" into line. */
TD_FN int
td_read_request(struct stream *s, char *line, size_t cap)
{
	char		head[4096];
	char		*body = NULL;
	size_t		len;
	long long	clen = 0;
	long		n;
	size_t		got = 0;
	char		*sp;
	int		r = -1;

	if (stream_read_line(s, head, sizeof(head), &len) != 0)
		return -1;
	len = str_trim_end(head, len);
	if ((sp = strrchr(head, ' ')) != NULL)
		*sp = '\0';
	str_copy(line, head, cap);
	for (;;) {
		if (stream_read_line(s, head, sizeof(head), &len) != 0)
			return -1;
		if (str_trim_end(head, len) == 0)
			break;
		if (str_ncasecmp(head, "Content-Length:", 15) == 0 &&
		    parse_ll(head + 15 + strspn(head + 15, " "), 0,
		    TD_BODY_MAX, &clen) != 0)
			return -1;
	}
	if ((body = calloc(1, (size_t)clen + 1)) == NULL)
		return -1;
	while (got < (size_t)clen) {
		n = stream_read(s, body + got, (size_t)clen - got);
		if (n <= 0)
			goto out;
		got += (size_t)n;
	}
	len = strlen(line);
	snprintf(line + len, cap - len, " %s", body);
	r = 0;
out:
	free(body);
	return r;
}

/* Takes the next queued reply or asks the handler; default 500. */
TD_FN void
td_next_reply(struct token_double *td, const char *request,
    struct td_reply *reply)
{
	const char	*body = strchr(request, ' ');

	memset(reply, 0, sizeof(*reply));
	plat_mutex_lock(td->mu);
	if (td->queue_len > 0) {
		*reply = td->queue[td->queue_head];
		td->queue_head = (td->queue_head + 1) % TD_MAX_QUEUE;
		td->queue_len--;
	} else if (td->handler != NULL) {
		body = body != NULL ? strchr(body + 1, ' ') : NULL;
		td->handler(body != NULL ? body + 1 : "", reply,
		    td->handler_ctx);
	} else {
		reply->status = 500;
		str_copy(reply->body, "{\"error\":\"no_scripted_reply\"}",
		    sizeof(reply->body));
	}
	plat_mutex_unlock(td->mu);
}

TD_FN void
td_serve(struct token_double *td, plat_socket sock)
{
	struct stream	*s = stream_new(sock, 5000);
	struct td_reply	*reply = calloc(1, sizeof(*reply));
	char		*line = calloc(1, TD_BODY_MAX + 512);
	int64_t		 now;

	if (s == NULL || reply == NULL || line == NULL)
		goto out;
	if (stream_start_tls_server(s, td->creds, NULL) != 0)
		goto out;
	now = plat_now_ms();
	if (td_read_request(s, line, TD_BODY_MAX + 512) != 0)
		goto out;
	plat_mutex_lock(td->mu);
	if (td->nrequests < TD_MAX_REQUESTS) {
		td->requests[td->nrequests] = strdup(line);
		td->times[td->nrequests] = now;
		td->nrequests++;
	}
	plat_mutex_unlock(td->mu);

	td_next_reply(td, line, reply);
	if (reply->delay_ms > 0) {
		struct timespec ts = { reply->delay_ms / 1000,
		    (long)(reply->delay_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (reply->close_without_reply)
		goto out;
	stream_printf(s, "HTTP/1.1 %d Scripted\r\nContent-Type: "
	    "application/json; charset=utf-8\r\nContent-Length: %zu\r\n",
	    reply->status, strlen(reply->body));
	if (reply->retry_after > 0)
		stream_printf(s, "Retry-After: %d\r\n", reply->retry_after);
	stream_printf(s, "Connection: close\r\n\r\n%s", reply->body);
	stream_flush(s);
out:
	free(line);
	free(reply);
	if (s != NULL)
		stream_close(s);
	else
		plat_socket_close(sock);
}

TD_FN void
td_thread(void *arg)
{
	struct token_double	*td = arg;
	plat_socket		 sock;
	char			 peer[PLAT_ADDR_MAX];

	while (!td->stop) {
		if (plat_accept(td->listener, 100, &sock, peer) == 0)
			td_serve(td, sock);
	}
	plat_mutex_lock(td->mu);
	td->running = 0;
	plat_cond_broadcast(td->cond);
	plat_mutex_unlock(td->mu);
}

/*
 * Starts the double and points the settings' authority at it. Returns
 * NULL when openssl or a socket fails.
 */
TD_FN struct token_double *
td_start(struct settings *s)
{
	struct token_double	*td = calloc(1, sizeof(*td));
	char			 ca[300], cert[300], key[300];

	if (td == NULL)
		return NULL;
	td->listener = PLAT_SOCKET_INVALID;
	snprintf(td->dir, sizeof(td->dir), "/tmp/exo-td-XXXXXX");
	if (mkdtemp(td->dir) == NULL || td_make_certs(td->dir) != 0)
		goto fail;
	snprintf(ca, sizeof(ca), "%s/ca.pem", td->dir);
	snprintf(cert, sizeof(cert), "%s/server.pem", td->dir);
	snprintf(key, sizeof(key), "%s/server.key", td->dir);
	if (trust_load(ca, &td->trust, NULL) != 0 ||
	    tls_server_creds_load(cert, key, &td->creds, NULL) != 0)
		goto fail;
	if (plat_listen("127.0.0.1", 0, &td->listener, NULL) != 0)
		goto fail;
	td->port = (unsigned)plat_socket_port(td->listener);
	td->mu = plat_mutex_new();
	td->cond = plat_cond_new();
	td->running = 1;
	if (td->mu == NULL || td->cond == NULL ||
	    plat_thread_start(td_thread, td, 0) != 0)
		goto fail;
	snprintf(s->microsoft.authority, sizeof(s->microsoft.authority),
	    "https://127.0.0.1:%u", td->port);
	return td;
fail:
	printf("  token double: start failed in %s\n", td->dir);
	if (td->listener != PLAT_SOCKET_INVALID)
		plat_socket_close(td->listener);
	free(td);
	return NULL;
}

TD_FN void
td_stop(struct token_double *td)
{
	char	cmd[300];
	int	i;

	if (td == NULL)
		return;
	plat_mutex_lock(td->mu);
	td->stop = 1;
	while (td->running)
		plat_cond_wait(td->cond, td->mu, 1000);
	plat_mutex_unlock(td->mu);
	plat_socket_close(td->listener);
	for (i = 0; i < td->nrequests; i++)
		free(td->requests[i]);
	trust_free(td->trust);
	tls_server_creds_free(td->creds);
	plat_cond_free(td->cond);
	plat_mutex_free(td->mu);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", td->dir);
	if (system(cmd) != 0)
		printf("  token double: could not remove %s\n", td->dir);
	free(td);
}

TD_FN const struct trust_store *
td_trust(struct token_double *td)
{
	return td->trust;
}

TD_FN void
td_push_reply(struct token_double *td, const struct td_reply *reply)
{
	plat_mutex_lock(td->mu);
	if (td->queue_len < TD_MAX_QUEUE) {
		td->queue[(td->queue_head + td->queue_len) % TD_MAX_QUEUE] =
		    *reply;
		td->queue_len++;
	}
	plat_mutex_unlock(td->mu);
}

/* Queues one reply: status, JSON body, Retry-After seconds (0: none). */
TD_FN void
td_push(struct token_double *td, int status, const char *body,
    int retry_after)
{
	struct td_reply	*reply = calloc(1, sizeof(*reply));

	if (reply == NULL)
		return;
	reply->status = status;
	str_copy(reply->body, body, sizeof(reply->body));
	reply->retry_after = retry_after;
	td_push_reply(td, reply);
	free(reply);
}

TD_FN void
td_set_handler(struct token_double *td, td_handler fn, void *ctx)
{
	plat_mutex_lock(td->mu);
	td->handler = fn;
	td->handler_ctx = ctx;
	plat_mutex_unlock(td->mu);
}

TD_FN int
td_requests(struct token_double *td)
{
	int	n;

	plat_mutex_lock(td->mu);
	n = td->nrequests;
	plat_mutex_unlock(td->mu);
	return n;
}

/* Copies request i as "METHOD PATH BODY", or "" when there is none. */
TD_FN void
td_request(struct token_double *td, int i, char *out, size_t cap)
{
	plat_mutex_lock(td->mu);
	str_copy(out, i < td->nrequests ? td->requests[i] : "", cap);
	plat_mutex_unlock(td->mu);
}

TD_FN int64_t
td_request_time(struct token_double *td, int i)
{
	int64_t	t;

	plat_mutex_lock(td->mu);
	t = i < td->nrequests ? td->times[i] : -1;
	plat_mutex_unlock(td->mu);
	return t;
}

#endif

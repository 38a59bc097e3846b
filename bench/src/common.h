/*
 * What the bench tools share: a wall clock in microseconds (CLOCK_REALTIME, so that times taken by
 * different processes on this machine, and PostgreSQL's clock_timestamp(), can be compared), errors,
 * and connecting to Redis and PostgreSQL.
 */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

static inline int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline void sleep_us(int64_t us)
{
	if (us <= 0)
		return;
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

__attribute__((noreturn, format(printf, 1, 2))) static inline void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/* "host:port" or a port alone (127.0.0.1). */
static inline redisContext *redis_open(const char *address)
{
	char host[256] = "127.0.0.1";
	int port;
	const char *colon = strrchr(address, ':');
	if (colon) {
		snprintf(host, sizeof(host), "%.*s", (int) (colon - address), address);
		port = atoi(colon + 1);
	} else
		port = atoi(address);
	redisContext *c = redisConnect(host, port);
	if (c == NULL || c->err)
		die("cannot connect to Redis at %s: %s", address, c ? c->errstr : "out of memory");
	return c;
}

static inline redisReply *redis_command(redisContext *c, const char *what, redisReply *reply)
{
	if (reply == NULL)
		die("Redis %s: %s", what, c->errstr);
	if (reply->type == REDIS_REPLY_ERROR)
		die("Redis %s: %s", what, reply->str);
	return reply;
}

static inline PGconn *pg_open(const char *conninfo)
{
	PGconn *conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK)
		die("cannot connect to PostgreSQL (%s): %s", conninfo, PQerrorMessage(conn));
	return conn;
}

/* Runs sql, dies unless it succeeds; returns the result (caller clears it). */
static inline PGresult *pg_exec(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		die("%s: %s", sql, PQerrorMessage(conn));
	return res;
}

/* The number after "bench-" in a document (the writer's transaction number), or -1. */
static inline long long marker_of(const char *doc, size_t len)
{
	static const char tag[] = "\"bench-";
	const char *p = (const char *) memmem(doc, len, tag, sizeof(tag) - 1);
	if (p == NULL)
		return -1;
	return strtoll(p + sizeof(tag) - 1, NULL, 10);
}

/*
 * The baseline: the cache pusher of the original 2015 design, written here so that bench/run can put
 * cachepusher next to it on the same machine, data and workloads. It is an external process that
 *
 *   - LISTENs on customer_updated and customer_deleted over an ordinary client connection,
 *   - handles one notification at a time: customer_updated runs one query (customer_get(id)) and one
 *     Redis command (SET, or DEL when the document is NULL); customer_deleted one DEL,
 *   - warms up (--warmup) by deleting every key under the prefix and UPDATE-ing every customer row,
 *     so that the triggers notify every id and the loop above writes every document.
 *
 * It is written in C with libpq and hiredis, the fastest form that design can take, so that the
 * comparison measures the design and not a slow language.
 *
 *   baseline --pg CONNINFO --redis HOST:PORT [--prefix customer] [--warmup]
 *
 * Stops on SIGTERM or SIGINT and prints what it did.
 */
#define _GNU_SOURCE
#include "common.h"

#include <signal.h>
#include <sys/select.h>

static volatile sig_atomic_t stop_requested = 0;
static void on_stop(int sig)
{
	(void) sig;
	stop_requested = 1;
}

static const char *opt(int argc, char **argv, const char *name, const char *fallback)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	if (fallback == NULL)
		die("baseline needs %s", name);
	return fallback;
}

static int flag(int argc, char **argv, const char *name)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return 1;
	return 0;
}

/* Deletes every key under prefix: SCAN, then DEL what each step found. */
static long long delete_all(redisContext *redis, const char *prefix)
{
	char pattern[300];
	snprintf(pattern, sizeof(pattern), "%s:*", prefix);
	char cursor[64] = "0";
	long long deleted = 0;
	do {
		redisReply *r = redis_command(redis, "SCAN",
									  redisCommand(redis, "SCAN %s MATCH %s COUNT 1000", cursor, pattern));
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		redisReply *keys = r->element[1];
		if (keys->elements > 0) {
			const char **argv = malloc(sizeof(char *) * (keys->elements + 1));
			argv[0] = "DEL";
			for (size_t i = 0; i < keys->elements; i++)
				argv[i + 1] = keys->element[i]->str;
			redisReply *d = redis_command(redis, "DEL", redisCommandArgv(redis, keys->elements + 1, argv, NULL));
			deleted += d->integer;
			freeReplyObject(d);
			free(argv);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return deleted;
}

int main(int argc, char **argv)
{
	PGconn *conn = pg_open(opt(argc, argv, "--pg", NULL));
	redisContext *redis = redis_open(opt(argc, argv, "--redis", NULL));
	const char *prefix = opt(argc, argv, "--prefix", "customer");
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);

	PQclear(pg_exec(conn, "SET application_name = 'bench baseline'"));
	PQclear(pg_exec(conn, "LISTEN customer_updated"));
	PQclear(pg_exec(conn, "LISTEN customer_deleted"));
	PGresult *prep = PQprepare(conn, "get", "SELECT customer_get($1::int)::text", 1, NULL);
	if (PQresultStatus(prep) != PGRES_COMMAND_OK)
		die("prepare: %s", PQerrorMessage(conn));
	PQclear(prep);

	if (flag(argc, argv, "--warmup")) {
		long long deleted = delete_all(redis, prefix);
		PGresult *res = pg_exec(conn, "UPDATE customer SET id_customer = id_customer");
		fprintf(stderr, "baseline: warmup: %lld keys deleted, %s customers updated\n", deleted, PQcmdTuples(res));
		PQclear(res);
	}
	fprintf(stderr, "baseline: listening\n");

	long long updated = 0, deleted = 0, notifications = 0;
	char key[300];
	while (!stop_requested) {
		PGnotify *n = PQnotifies(conn);
		if (n == NULL) {
			int sock = PQsocket(conn);
			fd_set in;
			FD_ZERO(&in);
			FD_SET(sock, &in);
			struct timeval tv = {0, 100000};
			if (select(sock + 1, &in, NULL, NULL, &tv) < 0 && errno != EINTR)
				die("select: %s", strerror(errno));
			if (!PQconsumeInput(conn))
				die("PostgreSQL: %s", PQerrorMessage(conn));
			continue;
		}
		notifications++;
		snprintf(key, sizeof(key), "%s:%s", prefix, n->extra);
		redisReply *r;
		if (strcmp(n->relname, "customer_deleted") == 0) {
			r = redisCommand(redis, "DEL %s", key);
			deleted++;
		} else {
			const char *params[1] = {n->extra};
			PGresult *res = PQexecPrepared(conn, "get", 1, params, NULL, NULL, 0);
			if (PQresultStatus(res) != PGRES_TUPLES_OK)
				die("customer_get(%s): %s", n->extra, PQerrorMessage(conn));
			if (PQgetisnull(res, 0, 0)) {
				r = redisCommand(redis, "DEL %s", key);
				deleted++;
			} else {
				r = redisCommand(redis, "SET %s %b", key, PQgetvalue(res, 0, 0), (size_t) PQgetlength(res, 0, 0));
				updated++;
			}
			PQclear(res);
		}
		freeReplyObject(redis_command(redis, "SET/DEL", r));
		PQfreemem(n);
	}
	fprintf(stderr, "baseline: %lld notifications, %lld documents written, %lld keys deleted\n", notifications,
			updated, deleted);
	PQfinish(conn);
	redisFree(redis);
	return 0;
}

/*
 * benchtool: the load generators and probes of bench/run. Each subcommand does one thing:
 *
 *   stream   1000-row UPDATE transactions on customer, one connection, as fast as it can (or --rate
 *            transactions/s); each writes email = 'bench-<T>' for its transaction number T and logs
 *            "T lo hi t_begin t_commit_sent t_commit_ack" (microseconds, wall clock)
 *   single   single-row UPDATE transactions at a fixed rate over several connections (schedule-based,
 *            like pgbench --rate); logs "T id t_due t_sent t_ack"
 *   watch    subscribes to Redis keyspace events of a sample of keys (every M-th customer); on each
 *            SET it GETs the key and logs "id marker t_event t_get" whenever the marker changed
 *   verify   streams the documents from PostgreSQL and compares them with Redis (MGET per 1000);
 *            prints "rows= missing= stale= orphans=" and exits 2 when anything differs
 *   redis-sets          prints how many SET commands the Redis server has executed (INFO commandstats)
 *   wait-redis          waits until DBSIZE or the SET count reaches a value; prints the time it did
 *   wait-sql            waits until a query returns true; prints the time it did
 *   wait-markers        waits until every sampled key a writer's log touched shows its last marker
 *
 * Times printed are microseconds since the epoch (CLOCK_REALTIME), comparable across processes.
 */
#define _GNU_SOURCE
#include "common.h"

#include <poll.h>
#include <signal.h>

static const char *opt(int argc, char **argv, const char *name, const char *fallback)
{
	for (int i = 2; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	if (fallback == NULL)
		die("%s needs %s", argv[1], name);
	return fallback;
}

static FILE *open_log(const char *path)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		die("cannot write %s: %s", path, strerror(errno));
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	return f;
}

static volatile sig_atomic_t stop_requested = 0;
static void on_stop(int sig)
{
	(void) sig;
	stop_requested = 1;
}

/* ------------------------------------------------------------------------------------------- */

static int cmd_stream(int argc, char **argv)
{
	PGconn *conn = pg_open(opt(argc, argv, "--pg", NULL));
	long customers = atol(opt(argc, argv, "--customers", NULL));
	long rows = atol(opt(argc, argv, "--rows", "1000"));
	double seconds = atof(opt(argc, argv, "--seconds", NULL));
	double rate = atof(opt(argc, argv, "--rate", "0"));
	long long first = atoll(opt(argc, argv, "--first", "1"));
	FILE *log = open_log(opt(argc, argv, "--log", NULL));
	long windows = customers / rows;
	if (windows < 1)
		die("stream: --rows %ld is more than --customers %ld", rows, customers);

	PQclear(pg_exec(conn, "SET application_name = 'bench stream'"));
	char sql[256];
	int64_t start = now_us(), end = start + (int64_t) (seconds * 1e6);
	long long done = 0;
	for (long long i = 0;; i++) {
		if (rate > 0)
			sleep_us(start + (int64_t) (i * 1e6 / rate) - now_us());
		int64_t t_begin = now_us();
		if (t_begin >= end)
			break;
		long long tx = first + i;
		long lo = (i % windows) * rows + 1, hi = lo + rows - 1;
		snprintf(sql, sizeof(sql),
				 "BEGIN; UPDATE customer SET email = 'bench-%lld' WHERE id_customer BETWEEN %ld AND %ld", tx, lo,
				 hi);
		PQclear(pg_exec(conn, sql));
		int64_t t_sent = now_us();
		PQclear(pg_exec(conn, "COMMIT"));
		int64_t t_ack = now_us();
		fprintf(log, "%lld %ld %ld %lld %lld %lld\n", tx, lo, hi, (long long) t_begin, (long long) t_sent,
				(long long) t_ack);
		done++;
	}
	fclose(log);
	double elapsed = (now_us() - start) / 1e6;
	printf("%lld transactions, %lld rows in %.3f s: %.0f rows/s\n", done, done * rows, elapsed,
		   done * rows / elapsed);
	PQfinish(conn);
	return 0;
}

/* ------------------------------------------------------------------------------------------- */

struct single_conn {
	PGconn *conn;
	int busy;
	long long tx;
	long id;
	int64_t t_due, t_sent, t_ack;
};

static int cmd_single(int argc, char **argv)
{
	const char *conninfo = opt(argc, argv, "--pg", NULL);
	long customers = atol(opt(argc, argv, "--customers", NULL));
	double rate = atof(opt(argc, argv, "--rate", NULL));
	double seconds = atof(opt(argc, argv, "--seconds", NULL));
	int nconn = atoi(opt(argc, argv, "--connections", "4"));
	long long first = atoll(opt(argc, argv, "--first", "1"));
	FILE *log = open_log(opt(argc, argv, "--log", NULL));
	if (nconn < 1 || nconn > 64)
		die("single: --connections must be 1..64");

	struct single_conn conns[64];
	struct pollfd fds[64];
	for (int c = 0; c < nconn; c++) {
		memset(&conns[c], 0, sizeof(conns[c]));
		conns[c].conn = pg_open(conninfo);
		PQclear(pg_exec(conns[c].conn, "SET application_name = 'bench single'"));
	}

	char sql[160];
	int64_t start = now_us(), end = start + (int64_t) (seconds * 1e6);
	long long next = 0, done = 0, late = 0;
	int busy = 0;
	for (;;) {
		int64_t now = now_us();
		int64_t due = start + (int64_t) (next * 1e6 / rate);
		/* Send every transaction that is due, while a connection is free. */
		while (due <= now && due < end) {
			int c = 0;
			while (c < nconn && conns[c].busy)
				c++;
			if (c == nconn)
				break;
			struct single_conn *s = &conns[c];
			s->tx = first + next;
			s->id = next % customers + 1;
			s->t_due = due;
			snprintf(sql, sizeof(sql), "UPDATE customer SET email = 'bench-%lld' WHERE id_customer = %ld", s->tx,
					 s->id);
			s->t_sent = now_us();
			if (s->t_sent - due > 1000)
				late++;
			if (!PQsendQuery(s->conn, sql))
				die("single: %s", PQerrorMessage(s->conn));
			s->busy = 1;
			busy++;
			next++;
			due = start + (int64_t) (next * 1e6 / rate);
		}
		if (busy == 0 && due >= end)
			break;

		int n = 0;
		int map[64];
		for (int c = 0; c < nconn; c++)
			if (conns[c].busy) {
				fds[n].fd = PQsocket(conns[c].conn);
				fds[n].events = POLLIN;
				map[n++] = c;
			}
		int any_free = busy < nconn;
		int64_t wait = (any_free && due < end) ? due - now_us() : 100000;
		if (wait < 0)
			wait = 0;
		struct timespec ts = {wait / 1000000, (wait % 1000000) * 1000};
		if (ppoll(fds, n, &ts, NULL) < 0 && errno != EINTR)
			die("single: poll: %s", strerror(errno));
		for (int k = 0; k < n; k++) {
			if (!(fds[k].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
			struct single_conn *s = &conns[map[k]];
			if (!PQconsumeInput(s->conn))
				die("single: %s", PQerrorMessage(s->conn));
			while (s->busy && !PQisBusy(s->conn)) {
				PGresult *res = PQgetResult(s->conn);
				if (res == NULL) {
					fprintf(log, "%lld %ld %lld %lld %lld\n", s->tx, s->id, (long long) s->t_due,
							(long long) s->t_sent, (long long) s->t_ack);
					s->busy = 0;
					busy--;
					done++;
					break;
				}
				if (PQresultStatus(res) != PGRES_COMMAND_OK)
					die("single: %s", PQresultErrorMessage(res));
				s->t_ack = now_us();
				PQclear(res);
			}
		}
	}
	fclose(log);
	double elapsed = (now_us() - start) / 1e6;
	printf("%lld transactions in %.3f s: %.0f/s (asked %.0f/s); %lld sent more than 1 ms late\n", done, elapsed,
		   done / elapsed, rate, late);
	for (int c = 0; c < nconn; c++)
		PQfinish(conns[c].conn);
	return 0;
}

/* ------------------------------------------------------------------------------------------- */

static int cmd_watch(int argc, char **argv)
{
	const char *address = opt(argc, argv, "--redis", NULL);
	long customers = atol(opt(argc, argv, "--customers", NULL));
	long every = atol(opt(argc, argv, "--every", "1"));
	const char *prefix = opt(argc, argv, "--prefix", "customer");
	FILE *log = open_log(opt(argc, argv, "--log", NULL));
	const char *ready = opt(argc, argv, "--ready", "");
	if (every < 1)
		every = 1;

	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	redisContext *sub = redis_open(address);
	redisContext *get = redis_open(address);

	/* SUBSCRIBE to the keyspace channel of every sampled key, 1000 channels per command. */
	char channel_prefix[128];
	snprintf(channel_prefix, sizeof(channel_prefix), "__keyspace@0__:%s:", prefix);
	size_t channel_prefix_len = strlen(channel_prefix);
	long sampled = 0;
	const char *args[1001];
	char *bufs[1001];
	for (long id = every; id <= customers;) {
		int n = 0;
		args[n++] = "SUBSCRIBE";
		for (; id <= customers && n < 1001; id += every) {
			if (asprintf(&bufs[n], "%s%ld", channel_prefix, id) < 0)
				die("out of memory");
			args[n] = bufs[n];
			n++;
		}
		redisAppendCommandArgv(sub, n, args, NULL);
		for (int k = 1; k < n; k++)
			free(bufs[k]);
		sampled += n - 1;
	}
	for (long k = 0; k < sampled; k++) {
		void *r;
		if (redisGetReply(sub, &r) != REDIS_OK)
			die("watch: SUBSCRIBE: %s", sub->errstr);
		freeReplyObject(r);
	}
	long long *last = calloc(customers / every + 2, sizeof(long long));
	if (ready[0]) {
		FILE *f = fopen(ready, "w");
		if (f)
			fclose(f);
	}

	enum { batch = 4096 };
	long ids[batch];
	int64_t t_event[batch];
	long long events = 0, logged = 0;
	int more = 0; /* the reader still holds messages from the last read */
	while (!stop_requested) {
		if (!more) {
			struct pollfd pfd = {sub->fd, POLLIN, 0};
			int rc = poll(&pfd, 1, 100);
			if (rc < 0 && errno != EINTR)
				die("watch: poll: %s", strerror(errno));
			if (rc <= 0)
				continue;
			if (redisBufferRead(sub) != REDIS_OK)
				die("watch: %s", sub->errstr);
		}
		int64_t t = now_us();
		int n = 0;
		void *r;
		while (n < batch) {
			if (redisGetReplyFromReader(sub, &r) != REDIS_OK)
				die("watch: %s", sub->errstr);
			if (r == NULL)
				break;
			redisReply *m = r;
			/* ["message", "__keyspace@0__:customer:42", "set"] */
			if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 && strcmp(m->element[0]->str, "message") == 0 &&
				strcmp(m->element[2]->str, "set") == 0 && m->element[1]->len > channel_prefix_len) {
				ids[n] = atol(m->element[1]->str + channel_prefix_len);
				t_event[n] = t;
				redisAppendCommand(get, "GET %s:%ld", prefix, ids[n]);
				n++;
			}
			freeReplyObject(r);
		}
		more = n == batch;
		events += n;
		for (int k = 0; k < n; k++) {
			redisReply *doc;
			if (redisGetReply(get, (void **) &doc) != REDIS_OK)
				die("watch: GET: %s", get->errstr);
			int64_t t_get = now_us();
			long long marker = doc->type == REDIS_REPLY_STRING ? marker_of(doc->str, doc->len) : -1;
			long slot = ids[k] / every;
			if (marker != last[slot]) {
				last[slot] = marker;
				fprintf(log, "%ld %lld %lld %lld\n", ids[k], marker, (long long) t_event[k], (long long) t_get);
				logged++;
			}
			freeReplyObject(doc);
		}
	}
	fclose(log);
	fprintf(stderr, "watch: %ld keys sampled, %lld SET events, %lld new values logged\n", sampled, events, logged);
	return 0;
}

/* ------------------------------------------------------------------------------------------- */

static int cmd_verify(int argc, char **argv)
{
	PGconn *conn = pg_open(opt(argc, argv, "--pg", NULL));
	redisContext *redis = redis_open(opt(argc, argv, "--redis", NULL));
	const char *prefix = opt(argc, argv, "--prefix", "customer");
	const char *sql = opt(argc, argv, "--sql", "SELECT id_customer::text, customer_get(id_customer)::text FROM customer");

	enum { batch = 1000 };
	char *keys[batch], *docs[batch];
	const char *argv_mget[batch + 1];
	long long rows = 0, missing = 0, stale = 0, shown = 0;
	int n = 0;

	if (!PQsendQuery(conn, sql) || !PQsetSingleRowMode(conn))
		die("verify: %s", PQerrorMessage(conn));
	for (int finished = 0; !finished;) {
		PGresult *res = PQgetResult(conn);
		if (res == NULL)
			break;
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_SINGLE_TUPLE) {
			if (asprintf(&keys[n], "%s:%s", prefix, PQgetvalue(res, 0, 0)) < 0)
				die("out of memory");
			docs[n] = PQgetisnull(res, 0, 1) ? NULL : strdup(PQgetvalue(res, 0, 1));
			n++;
		} else if (st != PGRES_TUPLES_OK)
			die("verify: %s", PQresultErrorMessage(res));
		else
			finished = 1;
		PQclear(res);
		if (n == batch || (finished && n > 0)) {
			argv_mget[0] = "MGET";
			for (int k = 0; k < n; k++)
				argv_mget[k + 1] = keys[k];
			redisReply *r = redis_command(redis, "MGET", redisCommandArgv(redis, n + 1, argv_mget, NULL));
			for (int k = 0; k < n; k++) {
				redisReply *v = r->element[k];
				int absent = v->type != REDIS_REPLY_STRING;
				int differs = !absent && (docs[k] == NULL || strcmp(docs[k], v->str) != 0);
				if (docs[k] != NULL && absent)
					missing++;
				else if (differs)
					stale++;
				if ((absent && docs[k] != NULL) || differs) {
					if (shown++ < 5)
						fprintf(stderr, "verify: %s %s\n", keys[k], absent ? "missing" : "stale");
				}
				free(keys[k]);
				free(docs[k]);
			}
			freeReplyObject(r);
			rows += n;
			n = 0;
		}
	}
	while (PQgetResult(conn) != NULL)
		;
	/* cachepusher's marker key (how it notices a flushed Redis) is no document and no orphan. */
	long long markers = 0;
	char *cursor = strdup("0");
	do {
		redisReply *page = redis_command(redis, "SCAN",
			redisCommand(redis, "SCAN %s MATCH cachepusher#marker#* COUNT 10000", cursor));
		free(cursor);
		cursor = strdup(page->element[0]->str);
		markers += (long long) page->element[1]->elements;
		freeReplyObject(page);
	} while (strcmp(cursor, "0") != 0);
	free(cursor);
	redisReply *size = redis_command(redis, "DBSIZE", redisCommand(redis, "DBSIZE"));
	long long orphans = size->integer - markers - (rows - missing);
	freeReplyObject(size);
	printf("rows=%lld missing=%lld stale=%lld orphans=%lld\n", rows, missing, stale, orphans);
	return missing || stale || orphans ? 2 : 0;
}

/* ------------------------------------------------------------------------------------------- */

static long long redis_set_calls(redisContext *c)
{
	redisReply *r = redis_command(c, "INFO", redisCommand(c, "INFO commandstats"));
	const char *p = strstr(r->str, "cmdstat_set:calls=");
	long long calls = p ? atoll(p + strlen("cmdstat_set:calls=")) : 0;
	freeReplyObject(r);
	return calls;
}

static long long redis_dbsize(redisContext *c)
{
	redisReply *r = redis_command(c, "DBSIZE", redisCommand(c, "DBSIZE"));
	long long n = r->integer;
	freeReplyObject(r);
	return n;
}

static int cmd_redis_sets(int argc, char **argv)
{
	redisContext *c = redis_open(opt(argc, argv, "--redis", NULL));
	printf("%lld\n", redis_set_calls(c));
	return 0;
}

static int cmd_wait_redis(int argc, char **argv)
{
	redisContext *c = redis_open(opt(argc, argv, "--redis", NULL));
	const char *dbsize = opt(argc, argv, "--dbsize", "");
	const char *sets = opt(argc, argv, "--sets", "");
	double timeout = atof(opt(argc, argv, "--timeout", "600"));
	int interval_ms = atoi(opt(argc, argv, "--interval-ms", "10"));
	long long want = atoll(dbsize[0] ? dbsize : sets);
	int64_t end = now_us() + (int64_t) (timeout * 1e6);
	long long value;
	for (;;) {
		value = dbsize[0] ? redis_dbsize(c) : redis_set_calls(c);
		int64_t t = now_us();
		if (value >= want) {
			printf("%lld\n", (long long) t);
			return 0;
		}
		if (t >= end)
			break;
		sleep_us(interval_ms * 1000);
	}
	printf("timeout\n");
	fprintf(stderr, "wait-redis: %s is %lld after %.0f s, waiting for %lld\n", dbsize[0] ? "DBSIZE" : "SET count",
			value, timeout, want);
	return 3;
}

static long long *want_for_sort;
static long every_for_sort;
static int by_want(const void *a, const void *b)
{
	long long x = want_for_sort[*(const long *) a / every_for_sort], y = want_for_sort[*(const long *) b / every_for_sort];
	return x < y ? -1 : x > y;
}

/* Waits until every sampled key (id % every == 0) that the writer's log touched shows its last marker. */
static int cmd_wait_markers(int argc, char **argv)
{
	redisContext *c = redis_open(opt(argc, argv, "--redis", NULL));
	const char *path = opt(argc, argv, "--log", NULL);
	int single = strcmp(opt(argc, argv, "--kind", "stream"), "single") == 0;
	long every = atol(opt(argc, argv, "--every", "1"));
	long customers = atol(opt(argc, argv, "--customers", NULL));
	const char *prefix = opt(argc, argv, "--prefix", "customer");
	double timeout = atof(opt(argc, argv, "--timeout", "600"));
	int interval_ms = atoi(opt(argc, argv, "--interval-ms", "50"));
	if (every < 1)
		every = 1;

	long slots = customers / every + 1;
	long long *want = calloc(slots, sizeof(long long));
	FILE *f = fopen(path, "r");
	if (f == NULL)
		die("wait-markers: cannot read %s", path);
	char line[256];
	while (fgets(line, sizeof(line), f)) {
		long long tx;
		long lo, hi;
		if (single ? sscanf(line, "%lld %ld", &tx, &lo) != 2 : sscanf(line, "%lld %ld %ld", &tx, &lo, &hi) != 3)
			continue;
		if (single)
			hi = lo;
		for (long id = (lo + every - 1) / every * every; id <= hi && id <= customers; id += every)
			if (tx > want[id / every])
				want[id / every] = tx;
	}
	fclose(f);
	long n = 0;
	long *ids = malloc(sizeof(long) * slots);
	for (long s = 1; s < slots; s++)
		if (want[s] > 0)
			ids[n++] = s * every;
	/* Keys reach their last value roughly in the order of the transactions that wrote it: poll in that
	 * order and stop at the first chunk that is not done yet, so that polling costs Redis one MGET of
	 * at most 1000 keys per interval however far behind the system under test is. */
	want_for_sort = want;
	every_for_sort = every;
	qsort(ids, n, sizeof(long), by_want);

	int64_t end = now_us() + (int64_t) (timeout * 1e6);
	char *keys[1001];
	const char *args[1001];
	long done = 0;
	for (;;) {
		while (done < n) {
			int m = n - done < 1000 ? n - done : 1000;
			args[0] = "MGET";
			for (int k = 0; k < m; k++) {
				if (asprintf(&keys[k], "%s:%ld", prefix, ids[done + k]) < 0)
					die("out of memory");
				args[k + 1] = keys[k];
			}
			redisReply *r = redis_command(c, "MGET", redisCommandArgv(c, m + 1, args, NULL));
			int satisfied = 0;
			for (int k = 0; k < m; k++) {
				redisReply *v = r->element[k];
				long long marker = v->type == REDIS_REPLY_STRING ? marker_of(v->str, v->len) : -1;
				if (marker >= want[ids[done + k] / every])
					satisfied++;
				free(keys[k]);
			}
			freeReplyObject(r);
			if (satisfied < m)
				break;
			done += m;
		}
		int64_t t = now_us();
		if (done == n) {
			printf("%lld\n", (long long) t);
			return 0;
		}
		if (t >= end)
			break;
		sleep_us(interval_ms * 1000);
	}
	n -= done;
	printf("timeout\n");
	fprintf(stderr, "wait-markers: %ld sampled keys still without their last value after %.0f s\n", n, timeout);
	return 3;
}

static int cmd_wait_sql(int argc, char **argv)
{
	PGconn *conn = pg_open(opt(argc, argv, "--pg", NULL));
	const char *sql = opt(argc, argv, "--sql", NULL);
	double timeout = atof(opt(argc, argv, "--timeout", "600"));
	int interval_ms = atoi(opt(argc, argv, "--interval-ms", "20"));
	int64_t end = now_us() + (int64_t) (timeout * 1e6);
	for (;;) {
		PGresult *res = pg_exec(conn, sql);
		int yes = PQntuples(res) > 0 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		PQclear(res);
		int64_t t = now_us();
		if (yes) {
			printf("%lld\n", (long long) t);
			return 0;
		}
		if (t >= end)
			break;
		sleep_us(interval_ms * 1000);
	}
	printf("timeout\n");
	fprintf(stderr, "wait-sql: still false after %.0f s: %s\n", timeout, sql);
	return 3;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		die("usage: benchtool stream|single|watch|verify|redis-sets|wait-redis|wait-sql --option value ...");
	const char *cmd = argv[1];
	if (strcmp(cmd, "stream") == 0)
		return cmd_stream(argc, argv);
	if (strcmp(cmd, "single") == 0)
		return cmd_single(argc, argv);
	if (strcmp(cmd, "watch") == 0)
		return cmd_watch(argc, argv);
	if (strcmp(cmd, "verify") == 0)
		return cmd_verify(argc, argv);
	if (strcmp(cmd, "redis-sets") == 0)
		return cmd_redis_sets(argc, argv);
	if (strcmp(cmd, "wait-redis") == 0)
		return cmd_wait_redis(argc, argv);
	if (strcmp(cmd, "wait-markers") == 0)
		return cmd_wait_markers(argc, argv);
	if (strcmp(cmd, "wait-sql") == 0)
		return cmd_wait_sql(argc, argv);
	die("unknown subcommand %s", cmd);
}

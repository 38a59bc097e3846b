#include "settings.hpp"

#include "redis_connection.hpp"

extern "C" {
#include "postgres.h"
#include "utils/guc.h"
}

#include <climits>

namespace cachepusher::settings {

char *database;
char *role;
char *redisHost;
int redisPort;
int redisDb;
char *redisUsername;
char *redisPassword;
bool redisCluster;
char *redisSentinelMaster;
int batchSize;
int maxPending;
bool warmupOnStart;
int connectTimeoutMs;
int commandTimeoutMs;
int retryIntervalMs;
int statementTimeoutMs = 60000;
int retryMaxIntervalMs;
int maxSources = 64;


namespace {
void definePostmasterSettings()
{
	DefineCustomStringVariable("cachepusher.database", "Database the cachepusher worker connects to.",
							   NULL, &database, "postgres", PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("cachepusher.role",
							   "Role the worker connects as; empty means the bootstrap superuser.",
							   "Each source's SQL runs as the source's owner, not as this role.", &role, "",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("cachepusher.max_sources",
							"Number of sources whose counters the status view can show.", NULL,
							&maxSources, 64, 1, 10000, PGC_POSTMASTER, 0, NULL, NULL, NULL);
}

void defineReloadableSettings()
{
	DefineCustomStringVariable("cachepusher.redis_host",
							   "Redis host name or address; a value starting with / is a unix socket path.",
							   NULL, &redisHost, "127.0.0.1", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("cachepusher.redis_port", "Redis TCP port.", NULL, &redisPort, 6379, 1, 65535,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("cachepusher.redis_db", "Redis logical database number (SELECT).", NULL,
							&redisDb, 0, 0, INT_MAX, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("cachepusher.redis_username", "Redis ACL user name for AUTH (optional).",
							   NULL, &redisUsername, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("cachepusher.redis_password", "Redis password for AUTH.",
							   "Readable by superusers only.", &redisPassword, "", PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomBoolVariable("cachepusher.redis_cluster",
							 "Whether redis_host and redis_port name a seed node of a Redis Cluster.",
							 "The worker reads the slot map from it and writes to every master.", &redisCluster,
							 false, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("cachepusher.redis_sentinel_master",
							   "Name of the master a Redis Sentinel at redis_host and redis_port monitors; "
							   "empty means no Sentinel.",
							   "The worker asks the Sentinel for the master's address, and again after a failover.",
							   &redisSentinelMaster, "", PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("cachepusher.batch_size", "Keys fetched and pushed to Redis per batch.", NULL,
							&batchSize, 4000, 1, 100000, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("cachepusher.max_pending",
							"Keys kept in memory while Redis is unreachable before falling back to a "
							"full resync of the source.",
							NULL, &maxPending, 250000, 100, INT_MAX, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("cachepusher.warmup_on_start", "Warm every source when the worker starts.",
							 NULL, &warmupOnStart, true, PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("cachepusher.connect_timeout", "Time-out for connecting to Redis.", NULL,
							&connectTimeoutMs, 2000, 10, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL,
							NULL);
	DefineCustomIntVariable("cachepusher.command_timeout",
							"Time Redis may stay silent while a command is in flight before the "
							"connection is dropped and retried.",
							NULL, &commandTimeoutMs, 5000, 10, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, NULL,
							NULL, NULL);
	DefineCustomIntVariable("cachepusher.retry_interval",
							"First wait before retrying after Redis or a source failed; doubles on "
							"each further failure.",
							NULL, &retryIntervalMs, 1000, 10, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL,
							NULL);
	DefineCustomIntVariable("cachepusher.retry_max_interval", "Longest wait between retries.", NULL,
							&retryMaxIntervalMs, 30000, 10, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL,
							NULL);
	DefineCustomIntVariable("cachepusher.statement_timeout",
							"Longest time the worker lets one query of a source run (documents, key "
							"query chunk); 0 means no limit.",
							"A batch that times out is retried key by key, so one slow key does not hold "
							"back the others.",
							&statementTimeoutMs, 60000, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
}
} // namespace

void define(bool preloading)
{
	/* PostgreSQL refuses postmaster-context settings defined after start-up (a FATAL error). */
	if (preloading)
		definePostmasterSettings();
	defineReloadableSettings();
	MarkGUCPrefixReserved("cachepusher");
}

RedisAddress redisAddress()
{
	RedisAddress a;
	a.host = redisHost ? redisHost : "";
	a.port = redisPort;
	a.db = redisDb;
	a.username = redisUsername ? redisUsername : "";
	a.password = redisPassword ? redisPassword : "";
	a.connectTimeoutMs = connectTimeoutMs;
	a.commandTimeoutMs = commandTimeoutMs;
	a.cluster = redisCluster;
	a.sentinelMaster = redisSentinelMaster ? redisSentinelMaster : "";
	return a;
}

} // namespace cachepusher::settings

#include "settings.hpp"

#include "redis_connection.hpp"

extern "C" {
#include "postgres.h"
#include "utils/guc.h"
}

#include <climits>

namespace cachepusher::settings {

/*
 * Each default is written once, here: the variable's initial value is the boot value passed to
 * PostgreSQL below. Strings start NULL and get their boot value from PostgreSQL.
 */
char *database;
char *role;
char *redisHost;
int redisPort = 6379;
int redisDb = 0;
char *redisUsername;
char *redisPassword;
bool redisCluster = false;
char *redisSentinelMaster;
int batchSize = 4000;
int batchDelayMs = 1;
int maxPending = 250000;
bool warmupOnStart = true;
int connectTimeoutMs = 2000;
int commandTimeoutMs = 5000;
int retryIntervalMs = 1000;
int retryMaxIntervalMs = 30000;
int statementTimeoutMs = 60000;
int maxSources = 64;
int queueSizeKb = 16384;
/* 4 GB; 1 GB where size_t has 32 bits, in which 4 GB in bytes would wrap to 0. */
constexpr int maxQueueSizeKb = sizeof(size_t) >= 8 ? 4 * 1024 * 1024 : 1024 * 1024;
bool redisTls = false;
char *redisTlsCaFile;
char *redisTlsCaDir;
char *redisTlsCertFile;
char *redisTlsKeyFile;
char *redisTlsServerName;
int redisTlsVerify = static_cast<int>(TlsSettings::Verify::Full);
bool redisSentinelTls = true;

namespace {

const config_enum_entry tlsVerifyModes[] = {
	{"full", static_cast<int>(TlsSettings::Verify::Full), false},
	{"ca", static_cast<int>(TlsSettings::Verify::Ca), false},
	{"none", static_cast<int>(TlsSettings::Verify::None), false},
	{NULL, 0, false},
};

void defineTlsSettings()
{
	DefineCustomBoolVariable("cachepusher.redis_tls", "Whether to reach Redis over TLS.",
							 "Needs a build with hiredis_ssl (hiredis 1.0 or later).", &redisTls, redisTls,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("cachepusher.redis_tls_ca_file",
							   "File of the certificate authorities that sign Redis' certificates.",
							   "Empty, with redis_tls_ca_dir empty too: the system's trusted authorities.",
							   &redisTlsCaFile, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("cachepusher.redis_tls_ca_dir",
							   "Directory of certificate authorities (as c_rehash makes it).", NULL,
							   &redisTlsCaDir, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("cachepusher.redis_tls_cert_file",
							   "Client certificate (PEM, may hold its chain) for Redis servers that ask for one.",
							   NULL, &redisTlsCertFile, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("cachepusher.redis_tls_key_file",
							   "Private key of the client certificate; empty: in redis_tls_cert_file.",
							   "Must not be readable by group or others. Readable by superusers only.",
							   &redisTlsKeyFile, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("cachepusher.redis_tls_server_name",
							   "Name sent to Redis (SNI) and checked against its certificate.",
							   "Empty: the host connected to (redis_host, or a node's address).",
							   &redisTlsServerName, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("cachepusher.redis_tls_verify", "What of Redis' certificate is checked.",
							 "full: the chain and the server name; ca: the chain only; none: nothing (no "
							 "protection against a man in the middle).",
							 &redisTlsVerify, redisTlsVerify, tlsVerifyModes, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("cachepusher.redis_sentinel_tls",
							 "Whether the Sentinel, too, is reached over TLS when redis_tls is on.", NULL,
							 &redisSentinelTls, redisSentinelTls, PGC_SIGHUP, 0, NULL, NULL, NULL);
}

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
							&maxSources, maxSources, 1, 10000, PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("cachepusher.queue_size",
							"Shared memory for the keys of committed transactions on their way to the worker.",
							"When it is full, a commit still succeeds and its sources are resynced.", &queueSizeKb,
							queueSizeKb, 64, maxQueueSizeKb, PGC_POSTMASTER, GUC_UNIT_KB, NULL, NULL, NULL);
}

void defineReloadableSettings()
{
	DefineCustomStringVariable("cachepusher.redis_host",
							   "Redis host name or address; a value starting with / is a unix socket path.",
							   NULL, &redisHost, "127.0.0.1", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("cachepusher.redis_port", "Redis TCP port.", NULL, &redisPort, redisPort, 1, 65535,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("cachepusher.redis_db", "Redis logical database number (SELECT).", NULL,
							&redisDb, redisDb, 0, INT_MAX, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("cachepusher.redis_username", "Redis ACL user name for AUTH (optional).",
							   NULL, &redisUsername, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("cachepusher.redis_password", "Redis password for AUTH.",
							   "Readable by superusers only.", &redisPassword, "", PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomBoolVariable("cachepusher.redis_cluster",
							 "Whether redis_host and redis_port name a seed node of a Redis Cluster.",
							 "The worker reads the slot map from it and writes to every master.", &redisCluster,
							 redisCluster, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("cachepusher.redis_sentinel_master",
							   "Name of the master a Redis Sentinel at redis_host and redis_port monitors; "
							   "empty means no Sentinel.",
							   "The worker asks the Sentinel for the master's address, and again after a failover.",
							   &redisSentinelMaster, "", PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("cachepusher.batch_size", "Keys fetched and pushed to Redis per batch.", NULL,
							&batchSize, batchSize, 1, 100000, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("cachepusher.batch_delay",
							"How long keys wait for more before a batch smaller than batch_size is built.",
							"Fewer, fuller batches cost the worker much less CPU per document; 0 builds each "
							"batch at once.",
							&batchDelayMs, batchDelayMs, 0, 100, PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("cachepusher.max_pending",
							"Keys kept in memory while Redis is unreachable before falling back to a "
							"full resync of the source.",
							NULL, &maxPending, maxPending, 100, INT_MAX, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("cachepusher.warmup_on_start", "Warm every source when the worker starts.",
							 NULL, &warmupOnStart, warmupOnStart, PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("cachepusher.connect_timeout", "Time-out for connecting to Redis.", NULL,
							&connectTimeoutMs, connectTimeoutMs, 10, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL,
							NULL);
	DefineCustomIntVariable("cachepusher.command_timeout",
							"Time Redis may stay silent while a command is in flight before the "
							"connection is dropped and retried.",
							NULL, &commandTimeoutMs, commandTimeoutMs, 10, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, NULL,
							NULL, NULL);
	/*
	 * Not checked against each other: a check sees the other setting as it was, not as the same
	 * file sets it (at start as at a reload). The back-off caps the first wait instead.
	 */
	DefineCustomIntVariable(
		"cachepusher.retry_max_interval", "Longest wait between retries (retry_interval too is cut to it).", NULL,
		&retryMaxIntervalMs, retryMaxIntervalMs, 10, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("cachepusher.retry_interval",
							"First wait before retrying after Redis or a source failed; doubles on "
							"each further failure.",
							NULL, &retryIntervalMs, retryIntervalMs, 10, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL,
							NULL);
	DefineCustomIntVariable("cachepusher.statement_timeout",
							"Longest time the worker lets one query of a source run (documents, key "
							"query chunk); 0 means no limit.",
							"A batch that times out is retried key by key, so one slow key does not hold "
							"back the others.",
							&statementTimeoutMs, statementTimeoutMs, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
}
} // namespace

void define(bool preloading)
{
	/* PostgreSQL refuses postmaster-context settings defined after start-up (a FATAL error). */
	if (preloading)
		definePostmasterSettings();
	defineReloadableSettings();
	defineTlsSettings();
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
	a.tls.enabled = redisTls;
	a.tls.caFile = redisTlsCaFile ? redisTlsCaFile : "";
	a.tls.caDir = redisTlsCaDir ? redisTlsCaDir : "";
	a.tls.certFile = redisTlsCertFile ? redisTlsCertFile : "";
	a.tls.keyFile = redisTlsKeyFile ? redisTlsKeyFile : "";
	a.tls.serverName = redisTlsServerName ? redisTlsServerName : "";
	a.tls.verify = static_cast<TlsSettings::Verify>(redisTlsVerify);
	a.tls.sentinel = redisSentinelTls;
	a.tls.fileVersions = redis_tls::fileVersions(a.tls);
	return a;
}

} // namespace cachepusher::settings

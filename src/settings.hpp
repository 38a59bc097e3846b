/* The cachepusher.* settings (docs/design.md). Defined in _PG_init; read by the worker and the SQL API. */
#pragma once

#include "backoff.hpp"

namespace cachepusher {
struct RedisAddress;
}

namespace cachepusher::settings {

extern char *database; /* NULL unless preloaded */
extern char *role;
extern char *redisHost;
extern int redisPort;
extern int redisDb;
extern char *redisUsername;
extern char *redisPassword;
extern bool redisCluster;
extern char *redisSentinelMaster;
extern int batchSize;
extern int batchDelayMs;
extern int maxPending;
extern bool warmupOnStart;
extern int connectTimeoutMs;
extern int commandTimeoutMs;
extern int retryIntervalMs;
extern int retryMaxIntervalMs;
extern int statementTimeoutMs;
extern int maxSources;
extern int queueSizeKb;

/* The back-off between retry_interval and retry_max_interval, after Redis or a source failed. */
inline Backoff retryBackoff()
{
	return Backoff(retryIntervalMs, retryMaxIntervalMs);
}

/* The Redis target and time-outs as currently set. */
RedisAddress redisAddress();

/* Defines the settings; the postmaster-context ones only while preloading (else they keep defaults). */
void define(bool preloading);

} // namespace cachepusher::settings

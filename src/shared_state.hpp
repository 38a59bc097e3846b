/*
 * Shared memory: the worker publishes its state and per-source counters here, the status view reads
 * them. One LWLock protects all of it; the worker writes once per loop iteration, not per key.
 */
#pragma once

#include <string>

extern "C" {
#include "postgres.h"
#include "datatype/timestamp.h"
}

namespace cachepusher {

enum class SourceState : int { Stopped = 0, Warming, Streaming, RedisDown, Error, Standby, Failing, Loading };
const char *sourceStateName(SourceState state);

struct SourceStats {
	char name[64];
	SourceState state;
	int64 keysReceived;
	int64 documentsWritten;
	int64 keysDeleted;
	int64 errors;
	int64 pending;
	TimestampTz oldestPendingAt; /* 0 when nothing is pending */
	char lastError[256];
	TimestampTz lastErrorAt;
	int64 warmupDone;
	int64 warmupTotal; /* -1 while unknown */
	TimestampTz lastPushAt;
	int64 keysIgnored;		 /* empty notifications on the source's channels: they name no document */
	double msPerDocument;	 /* what one document cost to build lately (DocumentCost); 0: none built */
	TimestampTz statsSince; /* when the worker began counting for this source (it keeps no counts across restarts) */
};

namespace shared_state {

/* Hooks for _PG_init, only when loaded by shared_preload_libraries. */
void install();
/* Whether the shared memory exists (the library was preloaded). */
bool available();

/* The worker's pid (0: none), and its database, whose sources it publishes. */
void setWorkerPid(int pid);
int workerPid();
/*
 * wait_for_sync(): a caller asks for sync number n and waits until the worker reports it reached: the
 * worker drains every notification committed before it saw the request and the commit queue up to
 * where it ended at the request, and reports n once those keys (and any warmup asked for before) are
 * in Redis.
 */
uint64 requestSync();
/* The newest sync asked for, and where the commit queue ended then. */
uint64 syncRequested(uint64 *queuePosition = nullptr);
void syncReached(uint64 n);
/* Waits until sync n is reached or timeoutMs passes; false on timeout. Can raise (a cancel). */
bool waitForSync(uint64 n, long timeoutMs);

/* Replaces the published list of sources with sources[0..count). */
void publish(const SourceStats *sources, int count);
/*
 * Copies the published list into out (room for maxSources entries); returns the count. None in a
 * database the worker does not serve; serving says whether a worker serves this one, catalogError why
 * its last read of the sources failed (empty: it worked).
 */
int snapshot(SourceStats *out, int room, bool *serving = nullptr, char (*catalogError)[256] = nullptr);
/* The worker says why its last read of the sources failed; "" when it worked. */
void setCatalogError(const std::string &message);

} // namespace shared_state
} // namespace cachepusher

/*
 * The worker's Redis session: the target and the one batch in flight (redis_sink), connecting with
 * back-off, what a failure does (the batch's keys pending again, one log line per outage, an error per
 * source), and whether Redis may have lost what was written (redis_identity: a new run_id, a missing
 * marker), which asks for a resync of every source. Another target (a reload of the settings) is
 * written everything once connected.
 */
#pragma once

#include "redis_identity.hpp"
#include "redis_sink.hpp"
#include "settings.hpp"
#include "sync_tracker.hpp"

#include <string>

namespace cachepusher {

class Intake;
class SourceSet;

class RedisHealth {
public:
	/*
	 * Every Redis wait calls intake.drainDuringRedisWait() when the latch is set, so keys are accepted
	 * while Redis is slow; intake.hpp says what that drain may do. Resyncs are asked for through intake.
	 */
	RedisHealth(Intake &intake, SourceSet &sources);
	RedisHealth(const RedisHealth &) = delete;
	RedisHealth &operator=(const RedisHealth &) = delete;

	/* The settings' target, at start. */
	void configure(const RedisAddress &address) { redis_.configure(address); }
	/* The settings were reloaded: another target drops the connection and is written everything. */
	void reconfigure(const RedisAddress &address);
	/* Whether connected; if not and the back-off allows, connects (and checks what Redis may have lost). */
	bool ensure();
	/* Redis failed: drops the connection and the batch in flight (its keys are pending again). */
	void failed(const RedisError &error);
	/* Reads the replies of the batch in flight, if any, now. */
	void settleWrites();
	/* Checks the markers and the master now and then, and at once after the slot map changed. */
	void check();
	/* The next check() looks at the markers whatever the time. */
	void checkSoon() { lastMarkerCheck_ = 0; }

	bool connected() const { return redis_.connected(); }
	redis_sink::DocumentWriter &writer() { return writer_; }
	const redis_sink::DocumentWriter &writer() const { return writer_; }
	/* Whether what was written before t is known to be in Redis (serving: there are sources). */
	bool caughtUpTo(TimestampTz t, bool serving) const;
	/* The earliest of wake, the next connection attempt and the next marker check (serving: there is
	 * something to write, sources or a prefix to sweep). */
	TimestampTz wakeAt(TimestampTz wake, bool serving) const;

private:
	void lostData(const std::string &why);

	Intake &intake_;
	SourceSet &sources_;
	RedisTarget redis_;
	redis_sink::DocumentWriter writer_;
	Backoff retry_ = settings::retryBackoff();
	bool wasDown_ = false;
	std::string outageCause_; /* the error that failed the last attempt: a new one is said at once */
	/* The target changed: everything is written there once connected, standing in for changes since then. */
	bool resyncAfterConnect_ = false;
	AskedAt targetChangedAt_;
	RedisIdentity identity_;
	std::string connectedTo_; /* the nodes written to, as last logged */
	TimestampTz lastMarkerCheck_ = 0;
};

} // namespace cachepusher

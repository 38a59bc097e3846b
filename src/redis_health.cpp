#include "redis_health.hpp"

#include "intake.hpp"
#include "source_set.hpp"

extern "C" {
#include "utils/timestamp.h"
}

namespace cachepusher {
namespace {

/* How often a connected, idle worker checks that Redis still holds its marker (was not flushed). */
constexpr long markerCheckMs = 1000;

} // namespace

RedisHealth::RedisHealth(Intake &intake, SourceSet &sources)
	: intake_(intake), sources_(sources), redis_([&intake] { intake.drainDuringRedisWait(); }), writer_(redis_)
{
}

void RedisHealth::reconfigure(const RedisAddress &next)
{
	/* A new target drops the connection: the batch in flight gets its replies first. */
	settleWrites();
	if (!next.sameData(redis_.address())) {
		/* Another Redis (or database) may hold anything: write everything there. */
		ereport(LOG, (errmsg("cachepusher: Redis target changed to %s", describeTarget(next).c_str())));
		resyncAfterConnect_ = true;
		targetChangedAt_.ask(GetCurrentTimestamp());
		retry_.reset();
	} else if (!next.sameTarget(redis_.address())) {
		/* New credentials or TLS files for the same Redis: connect again at once, nothing to rewrite. */
		ereport(LOG, (errmsg("cachepusher: Redis connection settings changed; connecting to %s again",
							 describeTarget(next).c_str())));
		retry_.reset();
	}
	redis_.configure(next);
}

bool RedisHealth::ensure()
{
	if (redis_.connected())
		return true;
	if (!retry_.due(GetCurrentTimestamp()))
		return false;
	std::string lost;
	try {
		redis_.connect();
		lost = identity_.checkMasters(redis_);
	} catch (const RedisError &e) {
		failed(e);
		return false;
	}
	connectedTo_ = redis_.describeNodes();
	ereport(LOG, (errmsg("cachepusher: connected to Redis at %s", connectedTo_.c_str())));
	retry_.reset();
	wasDown_ = false;
	lastMarkerCheck_ = GetCurrentTimestamp();
	if (!lost.empty())
		lostData(lost);
	if (resyncAfterConnect_) {
		resyncAfterConnect_ = false;
		intake_.askForResync("", targetChangedAt_.take());
	}
	return true;
}

void RedisHealth::lostData(const std::string &why)
{
	ereport(LOG, (errmsg("cachepusher: %s; resyncing every source", why.c_str())));
	/* Whatever was written since the worker started may be gone. */
	intake_.askForResyncSinceStart();
}

void RedisHealth::settleWrites()
{
	try {
		writer_.finish();
	} catch (const RedisError &e) {
		failed(e);
	}
}

/*
 * Every second: is every marker still there (flushed), is the master still the one the Sentinel
 * names (else the target fails and is connected again)? And at once when the nodes written to changed
 * (a cluster's slot map read anew after MOVED): are they masters we wrote to before?
 */
void RedisHealth::check()
{
	if (!redis_.connected())
		return;
	std::string lost;
	TimestampTz now = GetCurrentTimestamp();
	if (!identity_.checked(redis_)) {
		/* Slots move often in a reshard: a line when the masters change, not for every slot. */
		std::string nodes = redis_.describeNodes();
		ereport(nodes == connectedTo_ ? DEBUG1 : LOG,
				(errmsg("cachepusher: the Redis Cluster's slot map changed; writing to %s", nodes.c_str())));
		connectedTo_ = nodes;
		lost = identity_.checkMasters(writer_.settled());
	} else if (TimestampDifferenceExceeds(lastMarkerCheck_, now, markerCheckMs)) {
		lastMarkerCheck_ = now;
		std::string unasked = writer_.settled().confirmMaster();
		if (!unasked.empty())
			ereport(LOG, (errmsg("cachepusher: could not ask the Sentinel whether the master is still %s: %s",
								 redis_.describeNodes().c_str(), unasked.c_str()),
						  errdetail("Writes go on to that master; a failover is noticed once the Sentinel "
									"answers again or the master fails.")));
		lost = identity_.checkMarkers(writer_.settled());
	}
	if (!lost.empty())
		lostData(lost);
}

void RedisHealth::failed(const RedisError &error)
{
	writer_.abandon();
	redis_.disconnect();
	TimestampTz now = GetCurrentTimestamp();
	long delay = retry_.failed(now);
	/*
	 * One line when the outage starts or its cause changes (a restarted Redis that now wants a
	 * password), then one per retry at most at the capped interval.
	 */
	bool newCause = !wasDown_ || outageCause_ != error.what();
	if (newCause || delay >= settings::retryMaxIntervalMs)
		ereport(LOG, (errmsg("cachepusher: %s", error.what()),
					  errdetail("Changes are kept and written once Redis is back; next attempt in %ld ms.", delay)));
	/*
	 * status says why, counted once per outage; a new cause replaces the old one where that is still
	 * the last error (not where the source has had one of its own since: a full commit queue).
	 */
	if (!wasDown_)
		sources_.recordError("", error.what(), now);
	else if (newCause)
		sources_.replaceError(outageCause_, error.what(), now);
	outageCause_ = error.what();
	wasDown_ = true;
}

bool RedisHealth::caughtUpTo(TimestampTz t, bool serving) const
{
	/* Nothing to write anywhere (no source, no sweep) is in step on any target. */
	if (resyncAfterConnect_ && serving)
		return false;
	if (writer_.inFlight() && writer_.inFlightSince() <= t)
		return false;
	/* Disconnected, Redis may have lost everything (restarted): only a connection tells. */
	return !serving || redis_.connected();
}

TimestampTz RedisHealth::wakeAt(TimestampTz wake, bool serving) const
{
	if (!redis_.connected() && serving)
		wake = std::min(wake, retry_.nextAttempt());
	/* check() runs only while there is something to write (serving). */
	if (redis_.connected() && serving)
		wake = std::min(wake, TimestampTzPlusMilliseconds(lastMarkerCheck_, markerCheckMs));
	return wake;
}

} // namespace cachepusher

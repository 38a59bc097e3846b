/*
 * Whether Redis may have lost what the worker wrote: it restarted (its run_id changed; even with
 * persistence it came back with older data) or it was flushed (FLUSHALL, FLUSHDB, a replica promoted
 * empty: our marker key is gone). Either way notifications alone cannot repair it: a full resync can.
 *
 * The marker key contains no ':', so it can never be the key of a source (prefix:key); its name holds
 * the cluster's system identifier and the database oid, so servers sharing a Redis do not mix up.
 * A Redis user whose ACL refuses INFO or the marker key loses that check (logged once), nothing else.
 */
#pragma once

#include "redis_connection.hpp"

#include <string>

namespace cachepusher {

class RedisIdentity {
public:
	/* Call in the worker once it is connected to its database. */
	RedisIdentity();

	/*
	 * Right after a connection was set up: returns a reason when Redis may have lost data since the
	 * previous connection (empty on the first connection, or when nothing changed). Sets the marker.
	 */
	std::string checkAfterConnect(RedisConnection &redis);
	/* While connected, now and then: returns a reason when the marker is gone. Sets it again. */
	std::string checkMarker(RedisConnection &redis);

private:
	/* Logs once that Redis refuses one of the checks (an ACL), and stops using it. */
	void cannotUse(bool &usable, const std::string &what, const redisReply *reply);

	std::string marker_;
	std::string runId_; /* of the Redis connected last; empty when unknown */
	bool connectedBefore_ = false;
	bool runIdUsable_ = true;
	bool markerUsable_ = true;
};

} // namespace cachepusher

/*
 * Whether Redis may have lost what the worker wrote: a node restarted (its run_id changed; even with
 * persistence it came back with older data), a replica was promoted (Sentinel or cluster failover: a
 * master with a run_id we did not write to, which may have missed the last writes), or a node was
 * flushed (FLUSHALL, FLUSHDB, a replica promoted empty: our marker key is gone). Either way
 * notifications alone cannot repair it: a full resync can.
 *
 * Every master written to is checked (RedisTarget: one node, or each master of a cluster, whose
 * marker key carries a {hash tag} of a slot that master serves). The marker key contains no ':', so
 * it can never be the key of a source (prefix:key); its name holds the cluster's system identifier
 * and the database oid, so servers sharing a Redis do not mix up. A Redis user whose ACL refuses INFO
 * or the marker key loses that check (logged once), nothing else.
 */
#pragma once

#include "redis_target.hpp"

#include <map>
#include <set>
#include <string>

namespace cachepusher {

class RedisIdentity {
public:
	/* Call in the worker once it is connected to its database. */
	RedisIdentity();

	/* Whether the masters of target's current topology have been checked. */
	bool checked(const RedisTarget &target) const { return checkedTopology_ == target.topology(); }
	/*
	 * After a connection, or when the masters or slots changed: returns a reason when a master may have
	 * lost data since the last check (empty the first time, or when nothing changed). Sets the markers.
	 */
	std::string checkMasters(RedisTarget &target);
	/* While connected, now and then: returns a reason when a marker is gone. Sets it again. */
	std::string checkMarkers(RedisTarget &target);

private:
	/* Logs once that Redis refuses one of the checks (an ACL), and stops using it. */
	void cannotUse(bool &usable, const std::string &what, const redisReply *reply);

	std::string marker_;
	/* The run_id of every master at the last check; empty when INFO was refused. */
	std::set<std::string> runIds_;
	/* The marker key set on each master (by name) at the last check. */
	std::map<std::string, std::string> markers_;
	uint64_t checkedTopology_ = 0;
	bool checkedBefore_ = false;
	bool runIdUsable_ = true;
	bool markerUsable_ = true;
};

} // namespace cachepusher

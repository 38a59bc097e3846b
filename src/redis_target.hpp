/*
 * Where the documents go: one Redis server, the master a Sentinel names, or every master of a Redis
 * Cluster. The sink, warmup, verify() and the restart/flush detection talk to a target and never to a
 * node: a single server is a target of one node.
 *
 * - Single: redis_host/redis_port.
 * - Sentinel (redis_sentinel_master set): redis_host/redis_port is a Sentinel; it names the master's
 *   address (SENTINEL get-master-addr-by-name), which must say it is a master (ROLE). A master that
 *   turns replica (READONLY) or goes away fails the target: the worker connects again, through the
 *   Sentinel, to whichever node is master then.
 * - Cluster (redis_cluster on): redis_host/redis_port is a seed node. The target reads the slot map
 *   (CLUSTER SLOTS), keeps one connection and one pipeline per master, routes each command by its
 *   key's hash slot, and sends the pipelines of all masters at once (receiveAll waits on them
 *   together). A MOVED reply updates the map and resends the command there (the map is read again
 *   afterwards); ASK resends it once to the named node after ASKING. A node that fails, or a cluster
 *   that answers CLUSTERDOWN/TRYAGAIN, fails the target: the worker connects again and reads the map
 *   anew, from the seed or any node of the last map.
 * Every failure is a RedisError, after which the target is to be disconnect()ed. Each of the three is
 * its own class behind this one (redis_nodes.hpp): redis_single_server.cpp, redis_sentinel.cpp and
 * redis_cluster.cpp.
 */
#pragma once

#include "redis_connection.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cachepusher {

/* What address configures, for log lines (never the password): the server, the seed, the Sentinel. */
std::string describeTarget(const RedisAddress &address);
/* Whether address names one Redis server (neither a cluster nor a Sentinel). */
inline bool isSingleServer(const RedisAddress &address)
{
	return !address.cluster && address.sentinelMaster.empty();
}

class RedisNodes;

class RedisTarget {
public:
	explicit RedisTarget(std::function<void()> onWake);
	~RedisTarget();
	RedisTarget(const RedisTarget &) = delete;
	RedisTarget &operator=(const RedisTarget &) = delete;

	/* Takes new settings; drops the connections when the target or credentials changed. */
	void configure(const RedisAddress &address);
	const RedisAddress &address() const;
	std::string describe() const { return describeTarget(address()); }
	/* What it is connected to: the node, or the masters. */
	std::string describeNodes() const;

	bool connected() const;
	/* Connects to every node written to (asking the Sentinel or reading the slot map); throws RedisError. */
	void connect();
	void disconnect();
	/* Changes whenever the nodes or the slot map changed: a connection, a map read anew. */
	uint64_t topology() const;

	/* The nodes written to: the server, the master, or the cluster's masters. */
	size_t nodeCount() const;
	RedisConnection &node(size_t i);
	const std::string &nodeName(size_t i) const;
	/* A key that node i stores: base itself, or in a cluster base with a {hash tag} of one of its slots. */
	std::string keyOnNode(size_t i, const std::string &base) const;

	/* Queues one command about key on the node that stores key; nothing is sent until send(). */
	void append(std::string_view key, std::initializer_list<std::string_view> argv);
	void append(std::string_view key, const std::vector<std::string> &argv);
	/* Starts sending every node's queued commands without waiting (RedisConnection::send()). */
	void send();
	bool inFlight() const;
	/* The replies of every command appended, in order, redirections followed. */
	std::vector<RedisReplyPtr> receive();
	std::vector<RedisReplyPtr> exchange();

	/*
	 * One SCAN step over pattern on every node in turn; appends the keys found. The cursor names the
	 * node and its SCAN cursor; "0" starts and ends. When the nodes or the slot map change meanwhile,
	 * the scan starts again, so no key is missed for having moved.
	 */
	std::string scan(const std::string &pattern, const std::string &cursor, int count, std::vector<std::string> &keys);

	/*
	 * Sentinel: asks whether the master written to is still the one it names. After a failover the
	 * old master may go on taking writes for seconds before the Sentinel turns it into a replica;
	 * those writes would be lost. Throws RedisError when the Sentinel names another master; when the
	 * Sentinel cannot be asked, carries on with the master it has and asks again after a back-off
	 * (2 s doubling to 16 s: each attempt may wait connect_timeout for an unreachable Sentinel, with
	 * nothing written meanwhile). Returns why the Sentinel could not be asked, at the first failure of
	 * a run of them only (for one log line); empty otherwise.
	 */
	std::string confirmMaster();
	/* Cluster: reads the slot map again (after MOVED, or a slot's marker moved). */
	void refresh();
	/*
	 * Throws RedisError when reply says the node cannot take commands now (a replica after a
	 * failover, a cluster without a majority): the target fails, the worker connects again.
	 */
	void failIfUnavailable(const redisReply *reply) const;

private:
	/*
	 * Runs a step that may stop half-way (a cluster that has opened some connections of a new slot
	 * map, or queued a redirected command on one node before connecting to the next): whatever
	 * ends it, a RedisError or a cancel heard while waiting (pg::PgError), the nodes are dropped,
	 * so the next connect starts from nothing instead of from a half-made state.
	 */
	template <typename Fn> auto disconnectingOnThrow(Fn &&fn) -> decltype(fn())
	{
		try {
			return fn();
		} catch (...) {
			disconnect();
			throw;
		}
	}

	std::function<void()> onWake_;
	/* The nodes of the kind of target the address names; new ones when the target changes. */
	std::unique_ptr<RedisNodes> nodes_;
};

} // namespace cachepusher

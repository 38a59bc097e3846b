/*
 * Behind RedisTarget (redis_target.hpp): the nodes a target writes to and the commands in flight to
 * them, common to the three ways of finding those nodes. Each way is a subclass in its own file,
 * made by its factory below: a single server (redis_single_server.cpp), the master a Sentinel names
 * (redis_sentinel.cpp), the masters of a Redis Cluster (redis_cluster.cpp). Every failure is a
 * RedisError, after which the nodes are to be disconnect()ed.
 */
#pragma once

#include "redis_connection.hpp"

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cachepusher {

class RedisNodes {
public:
	RedisNodes(std::function<void()> onWake, const RedisAddress &address, uint64_t topology);
	virtual ~RedisNodes() = default;
	RedisNodes(const RedisNodes &) = delete;
	RedisNodes &operator=(const RedisNodes &) = delete;

	/* New time-outs for the same target (RedisTarget makes new nodes for another target). */
	void configure(const RedisAddress &address);
	const RedisAddress &address() const { return address_; }
	virtual std::string describeNodes() const = 0;

	bool connected() const;
	/* Connects to every node written to; throws RedisError, disconnected. */
	void connect();
	void disconnect();
	uint64_t topology() const { return topology_; }

	size_t nodeCount() const { return nodes_.size(); }
	RedisConnection &node(size_t i) { return *nodes_[i].connection; }
	const std::string &nodeName(size_t i) const { return nodes_[i].name; }
	virtual std::string keyOnNode(size_t i, const std::string &base) const { return base; }

	virtual void append(std::string_view key, std::initializer_list<std::string_view> argv);
	/* The same for a command whose length is known only at run time (a hash of many fields). */
	virtual void append(std::string_view key, const std::vector<std::string> &argv);
	void send();
	bool inFlight() const { return !order_.empty(); }
	virtual std::vector<RedisReplyPtr> receive();

	virtual std::string scan(const std::string &pattern, const std::string &cursor, int count,
							 std::vector<std::string> &keys);
	virtual std::string confirmMaster() { return ""; }
	virtual void refresh() {}
	virtual void failIfUnavailable(const redisReply *reply) const;

protected:
	/* The answers by which any server, alone or not, says it takes no writes now (RedisError). */
	void failIfServerRefuses(const redisReply *reply) const;
	void failIfAnswerStartsWith(const redisReply *reply, std::initializer_list<std::string_view> codes) const;

	struct Node {
		std::string name; /* host:port */
		std::unique_ptr<RedisConnection> connection;
	};

	/* Fills nodes_ (empty on entry); throws RedisError. */
	virtual void connectNodes() = 0;
	/* What a subclass keeps about its connections, forgotten with them. */
	virtual void forgetConnections() {}
	/* The index in nodes_ of the node that stores key; nodes_ is not empty. */
	virtual size_t nodeOf(std::string_view key) const { return 0; }

	std::unique_ptr<RedisConnection> connectTo(const std::string &host, int port);
	/* The node of key; throws RedisError when not connected. */
	size_t nodeFor(std::string_view key) const;
	/* The replies of every command appended, in order, as the nodes sent them. */
	std::vector<RedisReplyPtr> collect();
	/* One SCAN step on one node. */
	std::string scanNode(size_t node, const std::string &pattern, const std::string &cursor, int count,
						 std::vector<std::string> &keys);
	/* The names of the nodes, sorted, ", "-separated. */
	std::string nodeNames() const;

	std::function<void()> onWake_;
	RedisAddress address_;
	std::vector<Node> nodes_;
	uint64_t topology_;
	/* The node of each command appended and not yet answered. */
	std::vector<size_t> order_;
};

/* The text of a string, status or error reply; empty for other replies. */
std::string replyText(const redisReply *reply);
/* host:port */
std::string hostPort(const std::string &host, int port);

/* Each starts disconnected, counting topology changes from topology. */
std::unique_ptr<RedisNodes> makeSingleServer(std::function<void()> onWake, const RedisAddress &address,
											 uint64_t topology);
std::unique_ptr<RedisNodes> makeSentinelMaster(std::function<void()> onWake, const RedisAddress &address,
											   uint64_t topology);
std::unique_ptr<RedisNodes> makeCluster(std::function<void()> onWake, const RedisAddress &address, uint64_t topology);

} // namespace cachepusher

#include "redis_nodes.hpp"

#include <algorithm>
#include <cstdlib>
#include <hiredis/hiredis.h>

namespace cachepusher {

std::string replyText(const redisReply *reply)
{
	return reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS || reply->type == REDIS_REPLY_ERROR
			   ? std::string(reply->str, reply->len)
			   : std::string();
}

std::string hostPort(const std::string &host, int port)
{
	return host + ":" + std::to_string(port);
}

RedisNodes::RedisNodes(std::function<void()> onWake, const RedisAddress &address, uint64_t topology)
	: onWake_(std::move(onWake)), address_(address), topology_(topology)
{
}

void RedisNodes::configure(const RedisAddress &address)
{
	address_ = address;
	for (Node &node : nodes_) {
		RedisAddress a = address;
		a.host = node.connection->address().host;
		a.port = node.connection->address().port;
		node.connection->configure(a); /* the time-outs */
	}
}

std::string RedisNodes::nodeNames() const
{
	std::vector<std::string> sorted;
	for (const Node &node : nodes_)
		sorted.push_back(node.name);
	std::sort(sorted.begin(), sorted.end());
	std::string names;
	for (const std::string &name : sorted)
		names += (names.empty() ? "" : ", ") + name;
	return names;
}

bool RedisNodes::connected() const
{
	if (nodes_.empty())
		return false;
	for (const Node &node : nodes_)
		if (!node.connection->connected())
			return false;
	return true;
}

void RedisNodes::disconnect()
{
	nodes_.clear();
	order_.clear();
	forgetConnections();
}

void RedisNodes::connect()
{
	disconnect();
	try {
		connectNodes();
	} catch (...) {
		disconnect();
		throw;
	}
	topology_++;
}

std::unique_ptr<RedisConnection> RedisNodes::connectTo(const std::string &host, int port)
{
	auto connection = std::make_unique<RedisConnection>(onWake_);
	RedisAddress a = address_;
	a.host = host;
	a.port = port;
	connection->configure(a);
	connection->connect();
	return connection;
}

size_t RedisNodes::nodeFor(std::string_view key) const
{
	if (nodes_.empty())
		throw RedisError("not connected to Redis");
	return nodeOf(key);
}

void RedisNodes::append(std::string_view key, std::initializer_list<std::string_view> argv)
{
	size_t node = nodeFor(key);
	nodes_[node].connection->append(argv);
	order_.push_back(node);
}

void RedisNodes::append(std::string_view key, const std::vector<std::string> &argv)
{
	size_t node = nodeFor(key);
	nodes_[node].connection->append(argv);
	order_.push_back(node);
}

void RedisNodes::send()
{
	for (Node &node : nodes_)
		if (node.connection->queued() > 0)
			node.connection->send();
}

std::vector<RedisReplyPtr> RedisNodes::collect()
{
	std::vector<size_t> order = std::move(order_);
	order_.clear();
	std::vector<RedisConnection *> connections;
	for (Node &node : nodes_)
		connections.push_back(node.connection.get());
	std::vector<std::vector<RedisReplyPtr>> perNode = receiveAll(connections);
	std::vector<size_t> next(nodes_.size(), 0);
	std::vector<RedisReplyPtr> replies;
	replies.reserve(order.size());
	for (size_t node : order)
		replies.push_back(std::move(perNode[node][next[node]++]));
	return replies;
}

std::vector<RedisReplyPtr> RedisNodes::receive()
{
	std::vector<RedisReplyPtr> replies = collect();
	for (const RedisReplyPtr &reply : replies)
		failIfUnavailable(reply.get());
	return replies;
}

/*
 * Answers that say a server cannot take writes now, not that one key is refused: a replica (after a
 * failover), memory full (maxmemory with noeviction), a failed background save (MISCONF), too few
 * replicas (min-replicas-to-write), a script running, a dataset loading. The target fails: the
 * batch is kept, the worker backs off and connects again, and no key is counted as failing. The
 * connection checks (redis_identity) write the marker key, so a Redis that still refuses writes
 * fails the reconnect too: the outage, its back-off and its one error last until it takes them.
 */
void RedisNodes::failIfServerRefuses(const redisReply *reply) const
{
	failIfAnswerStartsWith(reply, {"READONLY", "MASTERDOWN", "LOADING", "OOM", "MISCONF", "NOREPLICAS", "BUSY "});
}

void RedisNodes::failIfAnswerStartsWith(const redisReply *reply, std::initializer_list<std::string_view> codes) const
{
	if (!isErrorReply(reply))
		return;
	std::string error = replyText(reply);
	for (std::string_view code : codes)
		if (error.compare(0, code.size(), code) == 0)
			throw RedisError("Redis (" + describeNodes() + ") cannot take writes now: " + error);
}

/* A cluster's nodes also say so when it has no majority or a slot is moving or owned elsewhere. */
void RedisNodes::failIfUnavailable(const redisReply *reply) const
{
	failIfServerRefuses(reply);
	failIfAnswerStartsWith(reply, {"CLUSTERDOWN", "TRYAGAIN", "MOVED", "ASK "});
}

std::string RedisNodes::scanNode(size_t node, const std::string &pattern, const std::string &cursor, int count,
								 std::vector<std::string> &keys)
{
	RedisConnection &connection = *nodes_.at(node).connection;
	connection.append({"SCAN", cursor, "MATCH", pattern, "COUNT", std::to_string(count)});
	std::vector<RedisReplyPtr> replies = connection.exchange();
	const redisReply *reply = replies[0].get();
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 || reply->element[1]->type != REDIS_REPLY_ARRAY)
		throw RedisError("unexpected reply to SCAN from Redis at " + nodes_[node].name + ": " + describeReply(reply));
	const redisReply *found = reply->element[1];
	for (size_t i = 0; i < found->elements; i++)
		keys.emplace_back(found->element[i]->str, found->element[i]->len);
	return replyText(reply->element[0]);
}

std::string RedisNodes::scan(const std::string &pattern, const std::string &cursor, int count,
							 std::vector<std::string> &keys)
{
	if (nodes_.empty())
		throw RedisError("not connected to Redis");

	/* "<topology>-<node>-<SCAN cursor>": a SCAN cursor means something on its own node only. */
	uint64_t topology = topology_;
	size_t node = 0;
	std::string at = "0";
	if (cursor != "0") {
		size_t dash1 = cursor.find('-');
		size_t dash2 = cursor.find('-', dash1 == std::string::npos ? 0 : dash1 + 1);
		if (dash1 != std::string::npos && dash2 != std::string::npos &&
			std::strtoull(cursor.c_str(), nullptr, 10) == topology_) {
			node = std::strtoull(cursor.c_str() + dash1 + 1, nullptr, 10);
			at = cursor.substr(dash2 + 1);
		}
		if (node >= nodes_.size())
			node = 0, at = "0";
	}
	auto encode = [&](size_t n, const std::string &c) {
		return std::to_string(topology_) + "-" + std::to_string(n) + "-" + c;
	};
	std::string next = scanNode(node, pattern, at, count, keys);
	if (next != "0")
		return encode(node, next);
	if (node + 1 < nodes_.size())
		return encode(node + 1, "0");
	/* Every node scanned: if slots moved meanwhile, a key may have moved past the scan; once more. */
	refresh();
	return topology_ == topology ? "0" : encode(0, "0");
}

} // namespace cachepusher

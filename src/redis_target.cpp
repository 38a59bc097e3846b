#include "redis_target.hpp"

#include "cluster_slot.hpp"

#include <algorithm>
#include <cstdlib>
#include <hiredis/hiredis.h>

namespace cachepusher {
namespace {

/* Redirections followed for one command before the cluster counts as failing. */
constexpr int maxRedirects = 5;

std::string text(const redisReply *reply)
{
	return reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS || reply->type == REDIS_REPLY_ERROR
			   ? std::string(reply->str, reply->len)
			   : std::string();
}

bool startsWith(const std::string &s, std::string_view prefix)
{
	return s.compare(0, prefix.size(), prefix) == 0;
}

std::string nameOf(const std::string &host, int port)
{
	return host + ":" + std::to_string(port);
}

} // namespace

struct RedisTarget::SlotMap {
	struct Range {
		int first;
		int last;
		std::string host;
		int port;
	};
	std::vector<Range> ranges;
	std::vector<std::pair<std::string, int>> nodes; /* masters and replicas */
};

RedisTarget::RedisTarget(std::function<void()> onWake) : onWake_(std::move(onWake)) {}

void RedisTarget::configure(const RedisAddress &address)
{
	if (!address.sameTarget(address_)) {
		disconnect();
		knownNodes_.clear();
	}
	address_ = address;
	for (Node &node : nodes_) {
		RedisAddress a = address;
		a.host = node.connection->address().host;
		a.port = node.connection->address().port;
		node.connection->configure(a); /* the time-outs */
	}
}

std::string describeTarget(const RedisAddress &address)
{
	if (!address.sentinelMaster.empty())
		return "master \"" + address.sentinelMaster + "\" of the Sentinel at " + address.describe();
	if (address.cluster)
		return "the Redis Cluster of seed node " + address.describe();
	return address.describe();
}

std::string RedisTarget::describeNodes() const
{
	if (isSingleServer(address_))
		return address_.describe();
	std::vector<std::string> sorted;
	for (const Node &node : nodes_)
		sorted.push_back(node.name);
	std::sort(sorted.begin(), sorted.end());
	std::string names;
	for (const std::string &name : sorted)
		names += (names.empty() ? "" : ", ") + name;
	if (isSentinel())
		return names + " (" + describe() + ")";
	return "Redis Cluster, " + std::to_string(nodes_.size()) + " masters: " + names;
}

bool RedisTarget::connected() const
{
	if (nodes_.empty())
		return false;
	for (const Node &node : nodes_)
		if (!node.connection->connected())
			return false;
	return true;
}

void RedisTarget::disconnect()
{
	nodes_.clear();
	sentinel_.reset();
	sentinelFailures_ = 0;
	slots_.clear();
	order_.clear();
	commands_.clear();
	stale_ = false;
}

std::unique_ptr<RedisConnection> RedisTarget::connectTo(const std::string &host, int port)
{
	auto connection = std::make_unique<RedisConnection>(onWake_);
	RedisAddress a = address_;
	a.host = host;
	a.port = port;
	connection->configure(a);
	connection->connect();
	return connection;
}

void RedisTarget::connect()
{
	disconnect();
	try {
		if (isCluster() && isSentinel())
			throw RedisError("cachepusher.redis_cluster and cachepusher.redis_sentinel_master are both set; "
							 "set one of them");
		if (isCluster())
			connectCluster();
		else if (isSentinel())
			connectViaSentinel();
		else
			connectSingle();
	} catch (...) {
		disconnect();
		throw;
	}
	topology_++;
}

void RedisTarget::connectSingle()
{
	auto connection = std::make_unique<RedisConnection>(onWake_);
	connection->configure(address_);
	connection->connect();
	nodes_.push_back({address_.describe(), std::move(connection)});
}

std::pair<std::string, int> RedisTarget::askSentinel()
{
	const std::string &name = address_.sentinelMaster;
	if (!sentinel_ || !sentinel_->connected()) {
		sentinel_ = std::make_unique<RedisConnection>(onWake_);
		sentinel_->configure(address_);
		sentinel_->connect(RedisConnection::Role::Sentinel);
	}
	sentinel_->append({"SENTINEL", "get-master-addr-by-name", name});
	std::vector<RedisReplyPtr> replies = sentinel_->exchange();
	const redisReply *reply = replies[0].get();
	if (reply->type == REDIS_REPLY_NIL)
		throw RedisError("the Sentinel at " + address_.describe() + " knows no master named \"" + name + "\"");
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2)
		throw RedisError("the Sentinel at " + address_.describe() + " answered " + describeReply(reply) +
						 " when asked for master \"" + name + "\"");
	return {text(reply->element[0]), std::atoi(text(reply->element[1]).c_str())};
}

std::string RedisTarget::confirmMaster()
{
	if (!isSentinel() || nodes_.empty())
		return "";
	auto now = std::chrono::steady_clock::now();
	if (sentinelFailures_ > 0 && now < sentinelRetryAt_)
		return "";
	std::pair<std::string, int> master;
	try {
		master = askSentinel();
	} catch (const RedisError &e) {
		sentinel_.reset();
		sentinelFailures_++;
		sentinelRetryAt_ = now + std::chrono::seconds(1 << std::min(sentinelFailures_, 4));
		return sentinelFailures_ == 1 ? e.what() : "";
	}
	sentinelFailures_ = 0;
	if (nameOf(master.first, master.second) != nodes_[0].name)
		throw RedisError("the Sentinel at " + address_.describe() + " names " + nameOf(master.first, master.second) +
						 " master \"" + address_.sentinelMaster + "\" now, not " + nodes_[0].name + " (a failover)");
	return "";
}

void RedisTarget::connectViaSentinel()
{
	const std::string &name = address_.sentinelMaster;
	auto [host, port] = askSentinel();
	auto connection = connectTo(host, port);
	/* Right after a failover the Sentinel may still name the old master, which may be a replica now. */
	connection->append({"ROLE"});
	std::vector<RedisReplyPtr> replies = connection->exchange();
	const redisReply *role = replies[0].get();
	if (role->type == REDIS_REPLY_ARRAY && role->elements > 0 && text(role->element[0]) != "master")
		throw RedisError("Redis at " + nameOf(host, port) + ", named master \"" + name + "\" by the Sentinel at " +
						 address_.describe() + ", is a " + text(role->element[0]) + "; asking again");
	nodes_.push_back({nameOf(host, port), std::move(connection)});
}

void RedisTarget::connectCluster()
{
	/* The seed first, then every node of the last map: the seed may be the node that failed. */
	std::vector<std::pair<std::string, int>> candidates{{address_.host, address_.port}};
	for (const auto &known : knownNodes_)
		if (std::find(candidates.begin(), candidates.end(), known) == candidates.end())
			candidates.push_back(known);
	std::string errors;
	for (const auto &[host, port] : candidates) {
		try {
			auto connection = connectTo(host, port);
			SlotMap map = readSlotMap(*connection, host);
			nodes_.push_back({nameOf(host, port), std::move(connection)});
			applySlotMap(map);
			return;
		} catch (const RedisError &e) {
			disconnect();
			/* Every node of a map naming a dead master fails alike: say it once. */
			if (errors.size() < 1000 && errors.find(e.what()) == std::string::npos)
				errors += std::string(errors.empty() ? "" : "; ") + e.what();
		}
	}
	throw RedisError("could not connect to the Redis Cluster: " + errors);
}

RedisTarget::SlotMap RedisTarget::readSlotMap(RedisConnection &connection, const std::string &askedHost)
{
	connection.append({"CLUSTER", "SLOTS"});
	std::vector<RedisReplyPtr> replies = connection.exchange();
	const redisReply *reply = replies[0].get();
	std::string where = "Redis at " + connection.address().describe();
	if (reply->type != REDIS_REPLY_ARRAY)
		throw RedisError(where + " answered CLUSTER SLOTS with " + describeReply(reply) +
						 (isErrorReply(reply) ? " (is it a cluster node?)" : ""));
	SlotMap map;
	for (size_t i = 0; i < reply->elements; i++) {
		const redisReply *range = reply->element[i];
		if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 || range->element[0]->type != REDIS_REPLY_INTEGER ||
			range->element[1]->type != REDIS_REPLY_INTEGER)
			throw RedisError(where + " sent a CLUSTER SLOTS entry this worker does not understand");
		for (size_t n = 2; n < range->elements; n++) {
			const redisReply *node = range->element[n];
			if (node->type != REDIS_REPLY_ARRAY || node->elements < 2 || node->element[1]->type != REDIS_REPLY_INTEGER)
				throw RedisError(where + " sent a CLUSTER SLOTS node this worker does not understand");
			/* An empty host means the node we asked; "?" a node whose address is unknown. */
			std::string host = text(node->element[0]);
			if (host.empty())
				host = askedHost;
			if (host == "?")
				continue;
			int port = static_cast<int>(node->element[1]->integer);
			if (n == 2)
				map.ranges.push_back({static_cast<int>(range->element[0]->integer),
									  static_cast<int>(range->element[1]->integer), host, port});
			std::pair<std::string, int> address{host, port};
			if (std::find(map.nodes.begin(), map.nodes.end(), address) == map.nodes.end())
				map.nodes.push_back(address);
		}
	}
	if (map.ranges.empty())
		throw RedisError(where + " serves no hash slots (a cluster not yet created?)");
	return map;
}

/* Makes the map's masters the nodes written to: keeps the connections it has, opens the others. */
void RedisTarget::applySlotMap(SlotMap &map)
{
	std::vector<Node> next;
	std::vector<int> slots(cluster_slot::slotCount, -1);
	for (const SlotMap::Range &range : map.ranges) {
		std::string name = nameOf(range.host, range.port);
		auto known = std::find_if(next.begin(), next.end(), [&](const Node &n) { return n.name == name; });
		if (known == next.end()) {
			auto current = std::find_if(nodes_.begin(), nodes_.end(), [&](const Node &n) { return n.name == name; });
			if (current != nodes_.end() && current->connection->connected())
				next.push_back({name, std::move(current->connection)});
			else
				next.push_back({name, connectTo(range.host, range.port)});
			known = next.end() - 1;
		}
		int index = static_cast<int>(known - next.begin());
		for (int slot = std::max(0, range.first); slot <= std::min(range.last, cluster_slot::slotCount - 1); slot++)
			slots[slot] = index;
	}
	bool changed = slots != slots_ || next.size() != nodes_.size();
	for (size_t i = 0; !changed && i < next.size(); i++)
		changed = next[i].name != nodes_[i].name;
	nodes_ = std::move(next);
	slots_ = std::move(slots);
	knownNodes_ = std::move(map.nodes);
	stale_ = false;
	if (changed)
		topology_++;
}

void RedisTarget::refresh()
{
	if (!isCluster() || nodes_.empty())
		return;
	size_t from = refreshFrom_ < nodes_.size() ? refreshFrom_ : 0;
	refreshFrom_ = 0;
	SlotMap map = readSlotMap(*nodes_[from].connection, nodes_[from].connection->address().host);
	applySlotMap(map);
}

std::string RedisTarget::keyOnNode(size_t i, const std::string &base) const
{
	if (!isCluster())
		return base;
	/* The first tag of a slot the node serves; the same tag as long as it keeps that slot. */
	for (int n = 0; n < 1000000; n++) {
		std::string tag = std::to_string(n);
		if (slots_[cluster_slot::keySlot(tag)] == static_cast<int>(i))
			return base + "{" + tag + "}";
	}
	return base;
}

size_t RedisTarget::nodeFor(std::string_view key) const
{
	if (nodes_.empty())
		throw RedisError("not connected to Redis");
	if (!isCluster())
		return 0;
	int slot = cluster_slot::keySlot(key);
	int node = slots_[slot];
	if (node < 0)
		throw RedisError("no master of the Redis Cluster serves hash slot " + std::to_string(slot));
	return static_cast<size_t>(node);
}

size_t RedisTarget::nodeAt(const std::string &host, int port)
{
	std::string name = nameOf(host, port);
	for (size_t i = 0; i < nodes_.size(); i++)
		if (nodes_[i].name == name)
			return i;
	/* A node we do not write to yet (a new master): the map is read again once the replies are in. */
	nodes_.push_back({name, connectTo(host, port)});
	stale_ = true;
	return nodes_.size() - 1;
}

void RedisTarget::append(std::string_view key, std::initializer_list<std::string_view> argv)
{
	size_t node = nodeFor(key);
	nodes_[node].connection->append(argv);
	order_.push_back(node);
	if (isCluster())
		commands_.emplace_back(argv.begin(), argv.end());
}

void RedisTarget::send()
{
	for (Node &node : nodes_)
		if (node.connection->queued() > 0)
			node.connection->send();
}

std::vector<RedisReplyPtr> RedisTarget::exchange()
{
	send();
	return receive();
}

std::vector<RedisReplyPtr> RedisTarget::receive()
{
	std::vector<size_t> order = std::move(order_);
	std::vector<std::vector<std::string>> commands = std::move(commands_);
	order_.clear();
	commands_.clear();
	std::vector<RedisConnection *> connections;
	for (Node &node : nodes_)
		connections.push_back(node.connection.get());
	std::vector<std::vector<RedisReplyPtr>> perNode = receiveAll(connections);
	std::vector<size_t> next(nodes_.size(), 0);
	std::vector<RedisReplyPtr> replies;
	replies.reserve(order.size());
	for (size_t node : order)
		replies.push_back(std::move(perNode[node][next[node]++]));
	if (isCluster())
		followRedirects(commands, replies);
	for (const RedisReplyPtr &reply : replies)
		failIfUnavailable(reply.get());
	if (stale_)
		refresh();
	return replies;
}

void RedisTarget::followRedirects(std::vector<std::vector<std::string>> &commands, std::vector<RedisReplyPtr> &replies)
{
	for (int round = 0;; round++) {
		/* Per node, what was sent there: the index of the command, or SIZE_MAX for an ASKING. */
		std::vector<std::vector<size_t>> sent;
		for (size_t i = 0; i < replies.size(); i++) {
			if (!isErrorReply(replies[i].get()))
				continue;
			cluster_slot::Redirect r = cluster_slot::parseRedirect(text(replies[i].get()));
			if (r.kind == cluster_slot::Redirect::Kind::None)
				continue;
			if (round == maxRedirects)
				throw RedisError("the Redis Cluster still redirects hash slot " + std::to_string(r.slot) + " after " +
								 std::to_string(maxRedirects) + " tries: " + text(replies[i].get()));
			size_t node = nodeAt(r.host, r.port);
			sent.resize(nodes_.size());
			if (r.kind == cluster_slot::Redirect::Kind::Moved) {
				/*
				 * A change of the map like any other: the map read afterwards agrees with this one and
				 * so would not count it, and a SCAN going on must start again (a key of this slot
				 * may have moved to a master it has already scanned).
				 */
				if (slots_[r.slot] != static_cast<int>(node)) {
					slots_[r.slot] = static_cast<int>(node);
					topology_++;
				}
				stale_ = true;
				refreshFrom_ = node;
			} else {
				nodes_[node].connection->append({"ASKING"});
				sent[node].push_back(SIZE_MAX);
			}
			nodes_[node].connection->append(commands[i]);
			sent[node].push_back(i);
		}
		if (sent.empty())
			return;
		std::vector<RedisConnection *> connections;
		for (size_t node = 0; node < sent.size(); node++)
			if (!sent[node].empty()) {
				nodes_[node].connection->send();
				connections.push_back(nodes_[node].connection.get());
			}
		std::vector<std::vector<RedisReplyPtr>> perNode = receiveAll(connections);
		size_t k = 0;
		for (size_t node = 0; node < sent.size(); node++) {
			if (sent[node].empty())
				continue;
			for (size_t j = 0; j < sent[node].size(); j++)
				if (sent[node][j] != SIZE_MAX)
					replies[sent[node][j]] = std::move(perNode[k][j]);
			k++;
		}
	}
}

/*
 * Answers that say a node cannot take writes now, not that one key is refused: a replica (after a
 * failover), a cluster without a majority or in the middle of moving a slot. The target fails; the
 * worker connects again and finds the master.
 */
void RedisTarget::failIfUnavailable(const redisReply *reply) const
{
	if (isSingleServer(address_) || !isErrorReply(reply))
		return;
	std::string error = text(reply);
	for (std::string_view code : {"READONLY", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "LOADING", "MOVED", "ASK "})
		if (startsWith(error, code))
			throw RedisError("Redis (" + describeNodes() + ") cannot take writes now: " + error);
}

std::string RedisTarget::scan(const std::string &pattern, const std::string &cursor, int count,
							  std::vector<std::string> &keys)
{
	std::string countText = std::to_string(count);
	auto scanNode = [&](size_t node, const std::string &at) {
		RedisConnection &connection = *nodes_.at(node).connection;
		connection.append({"SCAN", at, "MATCH", pattern, "COUNT", countText});
		std::vector<RedisReplyPtr> replies = connection.exchange();
		const redisReply *reply = replies[0].get();
		if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 || reply->element[1]->type != REDIS_REPLY_ARRAY)
			throw RedisError("unexpected reply to SCAN from Redis at " + nodes_[node].name + ": " + describeReply(reply));
		const redisReply *found = reply->element[1];
		for (size_t i = 0; i < found->elements; i++)
			keys.emplace_back(found->element[i]->str, found->element[i]->len);
		return text(reply->element[0]);
	};
	if (nodes_.empty())
		throw RedisError("not connected to Redis");
	if (isSingleServer(address_))
		return scanNode(0, cursor);

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
	std::string next = scanNode(node, at);
	if (next != "0")
		return encode(node, next);
	if (node + 1 < nodes_.size())
		return encode(node + 1, "0");
	/* Every node scanned: if slots moved meanwhile, a key may have moved past the scan; once more. */
	refresh();
	return topology_ == topology ? "0" : encode(0, "0");
}

} // namespace cachepusher

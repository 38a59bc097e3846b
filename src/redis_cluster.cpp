/*
 * A target of every master of a Redis Cluster (redis_cluster on): redis_host/redis_port is a seed
 * node. It reads the slot map (CLUSTER SLOTS), keeps one connection and one pipeline per master,
 * routes each command by its key's hash slot, and sends the pipelines of all masters at once
 * (receiveAll waits on them together). A MOVED reply updates the map and resends the command there
 * (the map is read again afterwards); ASK resends it once to the named node after ASKING. A node
 * that fails, or a cluster that answers CLUSTERDOWN/TRYAGAIN, fails the target: the worker connects
 * again and reads the map anew, from the seed or any node of the last map.
 */
#include "cluster_slot.hpp"
#include "redis_nodes.hpp"

#include <algorithm>
#include <hiredis/hiredis.h>

namespace cachepusher {
namespace {

/* Redirections followed for one command before the cluster counts as failing. */
constexpr int maxRedirects = 5;

struct SlotMap {
	struct Range {
		int first;
		int last;
		std::string host;
		int port;
	};
	std::vector<Range> ranges;
	std::vector<std::pair<std::string, int>> nodes; /* masters and replicas */
};

class Cluster final : public RedisNodes {
public:
	using RedisNodes::RedisNodes;

	std::string describeNodes() const override
	{
		return "Redis Cluster, " + std::to_string(nodes_.size()) + " masters" +
			   (address_.tls.enabled ? " over TLS" : "") + ": " + nodeNames();
	}

	/* The first tag of a slot the node serves; the same tag as long as it keeps that slot. */
	std::string keyOnNode(size_t i, const std::string &base) const override
	{
		for (int n = 0; n < 1000000; n++) {
			std::string tag = std::to_string(n);
			if (slots_[cluster_slot::keySlot(tag)] == static_cast<int>(i))
				return base + "{" + tag + "}";
		}
		return base;
	}

	void append(std::string_view key, std::initializer_list<std::string_view> argv) override
	{
		RedisNodes::append(key, argv);
		commands_.emplace_back(argv.begin(), argv.end());
	}

	void append(std::string_view key, const std::vector<std::string> &argv) override
	{
		RedisNodes::append(key, argv);
		commands_.push_back(argv);
	}

	std::vector<RedisReplyPtr> receive() override
	{
		std::vector<std::vector<std::string>> commands = std::move(commands_);
		commands_.clear();
		std::vector<RedisReplyPtr> replies = collect();
		followRedirects(commands, replies);
		for (const RedisReplyPtr &reply : replies)
			failIfUnavailable(reply.get());
		if (stale_)
			refresh();
		return replies;
	}

	/* Reads the slot map again (after MOVED, or a slot's marker moved). */
	void refresh() override
	{
		if (nodes_.empty())
			return;
		size_t from = refreshFrom_ < nodes_.size() ? refreshFrom_ : 0;
		refreshFrom_ = 0;
		SlotMap map = readSlotMap(*nodes_[from].connection, nodes_[from].connection->address().host);
		applySlotMap(map);
	}

protected:
	void connectNodes() override
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
				nodes_.push_back({hostPort(host, port), std::move(connection)});
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

	/* The known nodes stay: they are where to look when the seed is down. */
	void forgetConnections() override
	{
		slots_.clear();
		commands_.clear();
		stale_ = false;
	}

	size_t nodeOf(std::string_view key) const override
	{
		int slot = cluster_slot::keySlot(key);
		int node = slots_[slot];
		if (node < 0)
			throw RedisError("no master of the Redis Cluster serves hash slot " + std::to_string(slot));
		return static_cast<size_t>(node);
	}

private:
	SlotMap readSlotMap(RedisConnection &connection, const std::string &askedHost);
	void applySlotMap(SlotMap &map);
	size_t nodeAt(const std::string &host, int port);
	void followRedirects(std::vector<std::vector<std::string>> &commands, std::vector<RedisReplyPtr> &replies);

	/* The index in nodes_ of each hash slot's master, -1 when none serves it. */
	std::vector<int> slots_;
	/* Every node (masters and replicas) of the last map, tried when the seed is down. */
	std::vector<std::pair<std::string, int>> knownNodes_;
	/* A node not of the map took a command (a redirection): the map is to be read again. */
	bool stale_ = false;
	/* The node to read the map from: the one that redirected us knows of the change first. */
	size_t refreshFrom_ = 0;
	/* Each command appended and not yet answered, to be resent where a redirection says. */
	std::vector<std::vector<std::string>> commands_;
};

SlotMap Cluster::readSlotMap(RedisConnection &connection, const std::string &askedHost)
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
			std::string host = replyText(node->element[0]);
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
void Cluster::applySlotMap(SlotMap &map)
{
	std::vector<Node> next;
	std::vector<int> slots(cluster_slot::slotCount, -1);
	for (const SlotMap::Range &range : map.ranges) {
		std::string name = hostPort(range.host, range.port);
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

size_t Cluster::nodeAt(const std::string &host, int port)
{
	std::string name = hostPort(host, port);
	for (size_t i = 0; i < nodes_.size(); i++)
		if (nodes_[i].name == name)
			return i;
	/* A node we do not write to yet (a new master): the map is read again once the replies are in. */
	nodes_.push_back({name, connectTo(host, port)});
	stale_ = true;
	return nodes_.size() - 1;
}

void Cluster::followRedirects(std::vector<std::vector<std::string>> &commands, std::vector<RedisReplyPtr> &replies)
{
	for (int round = 0;; round++) {
		/* Per node, what was sent there: the index of the command, or SIZE_MAX for an ASKING. */
		std::vector<std::vector<size_t>> sent;
		for (size_t i = 0; i < replies.size(); i++) {
			if (!isErrorReply(replies[i].get()))
				continue;
			cluster_slot::Redirect r = cluster_slot::parseRedirect(replyText(replies[i].get()));
			if (r.kind == cluster_slot::Redirect::Kind::None)
				continue;
			if (round == maxRedirects)
				throw RedisError("the Redis Cluster still redirects hash slot " + std::to_string(r.slot) + " after " +
								 std::to_string(maxRedirects) + " tries: " + replyText(replies[i].get()));
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

} // namespace

std::unique_ptr<RedisNodes> makeCluster(std::function<void()> onWake, const RedisAddress &address, uint64_t topology)
{
	return std::make_unique<Cluster>(std::move(onWake), address, topology);
}

} // namespace cachepusher

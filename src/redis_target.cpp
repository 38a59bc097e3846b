#include "redis_target.hpp"

#include "redis_nodes.hpp"

namespace cachepusher {
namespace {

std::unique_ptr<RedisNodes> makeNodes(std::function<void()> onWake, const RedisAddress &address, uint64_t topology)
{
	if (address.cluster)
		return makeCluster(std::move(onWake), address, topology);
	if (!address.sentinelMaster.empty())
		return makeSentinelMaster(std::move(onWake), address, topology);
	return makeSingleServer(std::move(onWake), address, topology);
}

} // namespace

std::string describeTarget(const RedisAddress &address)
{
	if (!address.sentinelMaster.empty())
		return "master \"" + address.sentinelMaster + "\" of the Sentinel at " + address.describeSentinel();
	if (address.cluster)
		return "the Redis Cluster of seed node " + address.describe();
	return address.describe();
}

RedisTarget::RedisTarget(std::function<void()> onWake)
	: onWake_(std::move(onWake)), nodes_(makeNodes(onWake_, RedisAddress{}, 0))
{
}

RedisTarget::~RedisTarget() = default;

void RedisTarget::configure(const RedisAddress &address)
{
	/* Another target: new nodes, which know nothing of the old ones; the topology counts on. */
	if (!address.sameTarget(nodes_->address()))
		nodes_ = makeNodes(onWake_, address, nodes_->topology());
	nodes_->configure(address);
}

const RedisAddress &RedisTarget::address() const
{
	return nodes_->address();
}

std::string RedisTarget::describeNodes() const
{
	return nodes_->describeNodes();
}

bool RedisTarget::connected() const
{
	return nodes_->connected();
}

void RedisTarget::connect()
{
	const RedisAddress &a = address();
	if (a.cluster && !a.sentinelMaster.empty()) {
		nodes_->disconnect();
		throw RedisError("cachepusher.redis_cluster and cachepusher.redis_sentinel_master are both set; "
						 "set one of them");
	}
	nodes_->connect();
}

void RedisTarget::disconnect()
{
	nodes_->disconnect();
}

uint64_t RedisTarget::topology() const
{
	return nodes_->topology();
}

size_t RedisTarget::nodeCount() const
{
	return nodes_->nodeCount();
}

RedisConnection &RedisTarget::node(size_t i)
{
	return nodes_->node(i);
}

const std::string &RedisTarget::nodeName(size_t i) const
{
	return nodes_->nodeName(i);
}

std::string RedisTarget::keyOnNode(size_t i, const std::string &base) const
{
	return nodes_->keyOnNode(i, base);
}

void RedisTarget::append(std::string_view key, std::initializer_list<std::string_view> argv)
{
	nodes_->append(key, argv);
}

void RedisTarget::append(std::string_view key, const std::vector<std::string> &argv)
{
	nodes_->append(key, argv);
}

void RedisTarget::send()
{
	nodes_->send();
}

bool RedisTarget::inFlight() const
{
	return nodes_->inFlight();
}

std::vector<RedisReplyPtr> RedisTarget::receive()
{
	return disconnectingOnThrow([&] { return nodes_->receive(); });
}

std::vector<RedisReplyPtr> RedisTarget::exchange()
{
	send();
	return receive();
}

std::string RedisTarget::scan(const std::string &pattern, const std::string &cursor, int count,
							  std::vector<std::string> &keys)
{
	return disconnectingOnThrow([&] { return nodes_->scan(pattern, cursor, count, keys); });
}

std::string RedisTarget::confirmMaster()
{
	return nodes_->confirmMaster();
}

void RedisTarget::refresh()
{
	disconnectingOnThrow([&] { nodes_->refresh(); });
}

void RedisTarget::failIfUnavailable(const redisReply *reply) const
{
	nodes_->failIfUnavailable(reply);
}

} // namespace cachepusher

/* A target of one Redis server: redis_host/redis_port. */
#include "redis_nodes.hpp"

namespace cachepusher {
namespace {

class SingleServer final : public RedisNodes {
public:
	using RedisNodes::RedisNodes;

	std::string describeNodes() const override { return address_.describe(); }

	/* No answer of a lone server says that another node should be asked (MOVED, CLUSTERDOWN). */
	void failIfUnavailable(const redisReply *reply) const override { failIfServerRefuses(reply); }

	/* One node: its own SCAN cursor is the target's. */
	std::string scan(const std::string &pattern, const std::string &cursor, int count,
					 std::vector<std::string> &keys) override
	{
		if (nodes_.empty())
			throw RedisError("not connected to Redis");
		return scanNode(0, pattern, cursor, count, keys);
	}

protected:
	void connectNodes() override
	{
		auto connection = std::make_unique<RedisConnection>(onWake_);
		connection->configure(address_);
		connection->connect();
		nodes_.push_back({address_.describe(), std::move(connection)});
	}
};

} // namespace

std::unique_ptr<RedisNodes> makeSingleServer(std::function<void()> onWake, const RedisAddress &address,
											 uint64_t topology)
{
	return std::make_unique<SingleServer>(std::move(onWake), address, topology);
}

} // namespace cachepusher

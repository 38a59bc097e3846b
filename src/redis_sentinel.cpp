/*
 * A target of the master a Redis Sentinel names (redis_sentinel_master set): redis_host/redis_port
 * is the Sentinel; it names the master's address (SENTINEL get-master-addr-by-name), which must say
 * it is a master (ROLE). A master that turns replica (READONLY) or goes away fails the target: the
 * worker connects again, through the Sentinel, to whichever node is master then.
 */
#include "backoff.hpp"
#include "redis_nodes.hpp"
#include "redis_target.hpp"

#include <cstdlib>
#include <hiredis/hiredis.h>

extern "C" {
#include "postgres.h"
#include "utils/timestamp.h"
}

namespace cachepusher {
namespace {

class SentinelMaster final : public RedisNodes {
public:
	using RedisNodes::RedisNodes;

	std::string describeNodes() const override
	{
		return nodeNames() + (address_.tls.enabled ? " over TLS" : "") + " (" + describeTarget(address_) + ")";
	}

	/*
	 * Asks whether the master written to is still the one the Sentinel names. After a failover the
	 * old master may go on taking writes for seconds before the Sentinel turns it into a replica;
	 * those writes would be lost. When the Sentinel cannot be asked, carries on with the master it
	 * has and asks again after a back-off: each attempt may wait connect_timeout for an unreachable
	 * Sentinel, with nothing written meanwhile.
	 */
	std::string confirmMaster() override
	{
		if (nodes_.empty())
			return "";
		TimestampTz now = GetCurrentTimestamp();
		if (!askRetry_.due(now))
			return "";
		std::pair<std::string, int> master;
		try {
			master = askSentinel();
		} catch (const RedisError &e) {
			sentinel_.reset();
			askRetry_.failed(now);
			return askRetry_.failures() == 1 ? e.what() : "";
		}
		askRetry_.reset();
		if (hostPort(master.first, master.second) != nodes_[0].name)
			throw RedisError("the Sentinel at " + address_.describe() + " names " +
							 hostPort(master.first, master.second) + " master \"" + address_.sentinelMaster +
							 "\" now, not " + nodes_[0].name + " (a failover)");
		return "";
	}

protected:
	void connectNodes() override
	{
		const std::string &name = address_.sentinelMaster;
		auto [host, port] = askSentinel();
		auto connection = connectTo(host, port);
		/* Right after a failover the Sentinel may still name the old master, which may be a replica now. */
		connection->append({"ROLE"});
		std::vector<RedisReplyPtr> replies = connection->exchange();
		const redisReply *role = replies[0].get();
		if (role->type == REDIS_REPLY_ARRAY && role->elements > 0 && replyText(role->element[0]) != "master")
			throw RedisError("Redis at " + hostPort(host, port) + ", named master \"" + name +
							 "\" by the Sentinel at " + address_.describe() + ", is a " + replyText(role->element[0]) +
							 "; asking again");
		nodes_.push_back({hostPort(host, port), std::move(connection)});
	}

	void forgetConnections() override
	{
		sentinel_.reset();
		askRetry_.reset();
	}

private:
	/* The master's address as the Sentinel names it now; throws RedisError. */
	std::pair<std::string, int> askSentinel()
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
		return {replyText(reply->element[0]), std::atoi(replyText(reply->element[1]).c_str())};
	}

	/* Between failed asks of the Sentinel: 2 s doubling to 16 s. */
	static constexpr int firstAskRetryMs = 2000;
	static constexpr int longestAskRetryMs = 16000;

	/* The connection to the Sentinel, kept open to ask it now and then. */
	std::unique_ptr<RedisConnection> sentinel_;
	Backoff askRetry_{firstAskRetryMs, longestAskRetryMs};
};

} // namespace

std::unique_ptr<RedisNodes> makeSentinelMaster(std::function<void()> onWake, const RedisAddress &address,
											   uint64_t topology)
{
	return std::make_unique<SentinelMaster>(std::move(onWake), address, topology);
}

} // namespace cachepusher

#include "redis_identity.hpp"

#include <hiredis/hiredis.h>

extern "C" {
#include "postgres.h"
#include "access/xlog.h"
#include "miscadmin.h"
}

namespace cachepusher {
namespace {

std::string runIdFromInfo(const redisReply *reply)
{
	if (reply->type != REDIS_REPLY_STRING)
		return "";
	std::string info(reply->str, reply->len);
	size_t at = info.find("run_id:");
	if (at == std::string::npos)
		return "";
	at += 7;
	size_t end = info.find_first_of("\r\n", at);
	return info.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

} // namespace

RedisIdentity::RedisIdentity()
	: marker_("cachepusher#marker#" + std::to_string(GetSystemIdentifier()) + "#" + std::to_string(MyDatabaseId))
{
}

std::string RedisIdentity::checkAfterConnect(RedisConnection &redis)
{
	redis.append({"INFO", "server"});
	redis.append({"EXISTS", marker_});
	redis.append({"SET", marker_, "1"});
	std::vector<RedisReplyPtr> replies = redis.exchange();
	std::string runId = runIdFromInfo(replies[0].get());
	bool markerFound = replies[1]->type == REDIS_REPLY_INTEGER && replies[1]->integer == 1;
	std::string previous = runId_;
	runId_ = runId;
	if (previous.empty())
		return "";
	if (runId != previous)
		return "Redis restarted (its run_id changed)";
	if (!markerFound)
		return "Redis lost our marker key " + marker_ + " (flushed)";
	return "";
}

std::string RedisIdentity::checkMarker(RedisConnection &redis)
{
	redis.append({"EXISTS", marker_});
	std::vector<RedisReplyPtr> replies = redis.exchange();
	if (replies[0]->type == REDIS_REPLY_INTEGER && replies[0]->integer == 1)
		return "";
	redis.append({"SET", marker_, "1"});
	redis.exchange();
	return "Redis lost our marker key " + marker_ + " (flushed)";
}

} // namespace cachepusher

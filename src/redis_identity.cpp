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

bool isOne(const redisReply *reply)
{
	return reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;
}

} // namespace

RedisIdentity::RedisIdentity()
	: marker_("cachepusher#marker#" + std::to_string(GetSystemIdentifier()) + "#" + std::to_string(MyDatabaseId))
{
}

void RedisIdentity::cannotUse(bool &usable, const std::string &what, const redisReply *reply)
{
	if (!usable)
		return;
	usable = false;
	ereport(LOG, (errmsg("cachepusher: Redis refused %s: %s", what.c_str(), describeReply(reply).c_str()),
				  errdetail("Without it, a Redis %s is not noticed and not repaired by a resync.",
							&usable == &runIdUsable_ ? "restart" : "flush"),
				  errhint("Allow the worker's Redis user %s, or call cachepusher.resync() after such events.",
						  &usable == &runIdUsable_ ? "the INFO command" : ("the key " + marker_).c_str())));
}

std::string RedisIdentity::checkAfterConnect(RedisConnection &redis)
{
	redis.append({"INFO", "server"});
	redis.append({"EXISTS", marker_});
	redis.append({"SET", marker_, "1"});
	std::vector<RedisReplyPtr> replies = redis.exchange();

	std::string runId;
	if (isErrorReply(replies[0].get()))
		cannotUse(runIdUsable_, "INFO", replies[0].get());
	else
		runId = runIdFromInfo(replies[0].get());
	bool markerFound = isOne(replies[1].get());
	if (isErrorReply(replies[1].get()) || isErrorReply(replies[2].get()))
		cannotUse(markerUsable_, "the marker key " + marker_,
				  isErrorReply(replies[1].get()) ? replies[1].get() : replies[2].get());

	std::string previous = runId_;
	runId_ = runId;
	bool firstConnection = !connectedBefore_;
	connectedBefore_ = true;
	if (firstConnection)
		return "";
	if (!runId.empty() && !previous.empty() && runId != previous)
		return "Redis restarted (its run_id changed)";
	if (markerUsable_ && !markerFound)
		return "Redis lost our marker key " + marker_ + " (flushed)";
	return "";
}

std::string RedisIdentity::checkMarker(RedisConnection &redis)
{
	if (!markerUsable_)
		return "";
	redis.append({"EXISTS", marker_});
	std::vector<RedisReplyPtr> replies = redis.exchange();
	if (isErrorReply(replies[0].get())) {
		cannotUse(markerUsable_, "the marker key " + marker_, replies[0].get());
		return "";
	}
	if (isOne(replies[0].get()))
		return "";
	redis.append({"SET", marker_, "1"});
	redis.exchange();
	return "Redis lost our marker key " + marker_ + " (flushed)";
}

} // namespace cachepusher

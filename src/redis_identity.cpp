#include "redis_identity.hpp"

#include "cluster_slot.hpp"

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

/* A marker whose slot moved to another master answers with a redirection: no verdict, read the map. */
bool isRedirect(const redisReply *reply)
{
	return isErrorReply(reply) &&
		   cluster_slot::parseRedirect(describeReply(reply)).kind != cluster_slot::Redirect::Kind::None;
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

std::string RedisIdentity::checkMasters(RedisTarget &target)
{
	size_t count = target.nodeCount();
	std::vector<std::string> keys;
	for (size_t i = 0; i < count; i++) {
		keys.push_back(target.keyOnNode(i, marker_));
		RedisConnection &node = target.node(i);
		node.append({"INFO", "server"});
		node.append({"EXISTS", keys[i]});
		node.append({"SET", keys[i], "1"});
		node.send();
	}
	std::vector<RedisConnection *> nodes;
	for (size_t i = 0; i < count; i++)
		nodes.push_back(&target.node(i));
	std::vector<std::vector<RedisReplyPtr>> replies = receiveAll(nodes);
	uint64_t topology = target.topology();

	bool single = isSingleServer(target.address());
	std::string reason;
	std::set<std::string> runIds;
	std::map<std::string, std::string> markers;
	bool redirected = false;
	for (const std::vector<RedisReplyPtr> &r : replies)
		for (const RedisReplyPtr &reply : r)
			if (!isRedirect(reply.get()))
				target.failIfUnavailable(reply.get());
	for (size_t i = 0; i < count; i++) {
		const std::vector<RedisReplyPtr> &r = replies[i];
		const std::string &name = target.nodeName(i);
		std::string runId;
		if (isErrorReply(r[0].get()))
			cannotUse(runIdUsable_, "INFO", r[0].get());
		else
			runId = runIdFromInfo(r[0].get());
		if (!runId.empty())
			runIds.insert(runId);
		if (isRedirect(r[1].get()) || isRedirect(r[2].get())) {
			redirected = true;
			continue;
		}
		bool markerFound = isOne(r[1].get());
		if (isErrorReply(r[1].get()) || isErrorReply(r[2].get()))
			cannotUse(markerUsable_, "the marker key " + keys[i],
					  isErrorReply(r[1].get()) ? r[1].get() : r[2].get());
		markers[name] = keys[i];
		if (!checkedBefore_ || !reason.empty())
			continue;
		if (!runId.empty() && !runIds_.empty() && !runIds_.count(runId))
			reason = single ? "Redis restarted (its run_id changed)"
							: "Redis master " + name + " is not one written to before (its run_id is new: "
							  "restarted, or a replica promoted that may have missed writes)";
		else if (markerUsable_ && !markerFound && markers_.count(name) && markers_[name] == keys[i])
			reason = "Redis lost our marker key " + keys[i] + (single ? "" : " on " + name) + " (flushed)";
	}
	runIds_ = std::move(runIds);
	markers_ = std::move(markers);
	checkedBefore_ = true;
	checkedTopology_ = topology;
	/* A marker's slot moved meanwhile: read the map; the masters are checked again for it. */
	if (redirected)
		target.refresh();
	return reason;
}

std::string RedisIdentity::checkMarkers(RedisTarget &target)
{
	if (!markerUsable_)
		return "";
	size_t count = target.nodeCount();
	std::vector<RedisConnection *> nodes;
	std::vector<std::string> keys;
	for (size_t i = 0; i < count; i++) {
		keys.push_back(target.keyOnNode(i, marker_));
		target.node(i).append({"EXISTS", keys[i]});
		target.node(i).send();
		nodes.push_back(&target.node(i));
	}
	std::vector<std::vector<RedisReplyPtr>> replies = receiveAll(nodes);
	for (size_t i = 0; i < count; i++)
		if (!isRedirect(replies[i][0].get()))
			target.failIfUnavailable(replies[i][0].get());
	std::string reason;
	for (size_t i = 0; i < count; i++) {
		const redisReply *reply = replies[i][0].get();
		const std::string &name = target.nodeName(i);
		if (isRedirect(reply)) {
			target.refresh();
			return "";
		}
		if (isErrorReply(reply)) {
			cannotUse(markerUsable_, "the marker key " + keys[i], reply);
			return "";
		}
		if (isOne(reply))
			continue;
		target.node(i).append({"SET", keys[i], "1"});
		std::vector<RedisReplyPtr> set = target.node(i).exchange();
		/* A marker not written would be missed at the next check as if Redis had been flushed. */
		target.failIfUnavailable(set[0].get());
		if (isErrorReply(set[0].get())) {
			cannotUse(markerUsable_, "the marker key " + keys[i], set[0].get());
			return "";
		}
		bool known = markers_.count(name) && markers_[name] == keys[i];
		markers_[name] = keys[i];
		if (known && reason.empty())
			reason = "Redis lost our marker key " + keys[i] + (isSingleServer(target.address()) ? "" : " on " + name) +
					 " (flushed)";
	}
	return reason;
}

} // namespace cachepusher

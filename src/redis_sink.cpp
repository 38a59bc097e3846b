#include "redis_sink.hpp"

#include <hiredis/hiredis.h>

extern "C" {
#include "postgres.h"
#include "utils/timestamp.h"
}

namespace cachepusher::redis_sink {

void writeDocuments(RedisConnection &redis, Source &source, const std::vector<Document> &documents)
{
	if (documents.empty())
		return;
	std::string redisKey;
	for (const Document &doc : documents) {
		redisKey = source.def.redisKey(doc.key);
		if (doc.body)
			redis.append({"SET", redisKey, *doc.body});
		else
			redis.append({"DEL", redisKey});
	}
	std::vector<RedisReplyPtr> replies = redis.exchange();

	TimestampTz now = GetCurrentTimestamp();
	for (size_t i = 0; i < documents.size(); i++) {
		const redisReply *reply = replies[i].get();
		if (isErrorReply(reply)) {
			std::string message = "Redis refused " + std::string(documents[i].body ? "SET" : "DEL") + ": " +
								  describeReply(reply);
			source.keyFailed(documents[i].key, message, now);
			continue;
		}
		if (documents[i].body)
			source.stats.documentsWritten++;
		else
			source.stats.keysDeleted++;
		source.keyWritten(documents[i].key);
	}
	source.stats.lastPushAt = now;
}

std::string scanPrefix(RedisConnection &redis, const std::string &prefix, const std::string &cursor, int count,
					   std::vector<std::string> &keys)
{
	/* Source prefixes are checked to hold no glob characters, so the pattern matches the prefix only. */
	std::string pattern = prefix + ":*";
	std::string countText = std::to_string(count);
	redis.append({"SCAN", cursor, "MATCH", pattern, "COUNT", countText});
	std::vector<RedisReplyPtr> replies = redis.exchange();
	const redisReply *reply = replies[0].get();
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
		reply->element[1]->type != REDIS_REPLY_ARRAY)
		throw RedisError("unexpected reply to SCAN: " + describeReply(reply));
	const redisReply *found = reply->element[1];
	for (size_t i = 0; i < found->elements; i++) {
		std::string_view key(found->element[i]->str, found->element[i]->len);
		if (key.size() > prefix.size() + 1)
			keys.emplace_back(key.substr(prefix.size() + 1));
	}
	return std::string(reply->element[0]->str, reply->element[0]->len);
}

} // namespace cachepusher::redis_sink

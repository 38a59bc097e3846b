#include "redis_sink.hpp"

#include <hiredis/hiredis.h>

extern "C" {
#include "postgres.h"
#include "utils/timestamp.h"
}

namespace cachepusher::redis_sink {

void DocumentWriter::write(Source &source, const std::vector<Document> &documents, TimestampTz waitingSince)
{
	try {
		finish();
	} catch (...) {
		std::vector<std::string> keys;
		for (const Document &doc : documents)
			keys.push_back(doc.key);
		source.pending.requeue(keys, waitingSince);
		throw;
	}
	if (documents.empty())
		return;
	source_ = &source;
	waitingSince_ = waitingSince;
	keys_.reserve(documents.size());
	deleted_.reserve(documents.size());
	/*
	 * hiredis copies each command into its buffer: only the keys are kept until the replies come (and,
	 * in a cluster, the target's copy of each command, to resend it where a redirection says).
	 * A plain SET (no TTL) also clears a TTL the key had: a source whose TTL went loses it on rewrite.
	 */
	try {
		std::string redisKey;
		std::vector<std::string> argv;
		std::string error;
		for (const Document &doc : documents) {
			redisKey = source.def.redisKey(doc.key);
			/* The key is kept before its command is appended: a throw from append() requeues it too. */
			keys_.push_back(doc.key);
			bool storable = !doc.body ||
							value_type::writeCommand(source.def.valueType, redisKey, *doc.body, source.def.expiry, argv, error);
			deleted_.push_back(!doc.body || !storable);
			if (!storable) {
				/*
				 * Not storable as the source's type (a hash needs an object, a TTL member out of range):
				 * the key fails and its old value goes, so no reader is served what the database no
				 * longer says. Not retried: only a change of the document can help, and that sends it.
				 */
				source.keyFailed(doc.key, error, GetCurrentTimestamp(), false);
				redis_.append(redisKey, {"DEL", redisKey});
			} else if (doc.body)
				redis_.append(redisKey, argv);
			else
				redis_.append(redisKey, {"DEL", redisKey});
		}
		redis_.send();
	} catch (...) {
		/* Those not reached yet go back to the pending set with the ones appended (abandon). */
		std::vector<std::string> rest;
		for (size_t i = keys_.size(); i < documents.size(); i++)
			rest.push_back(documents[i].key);
		source.pending.requeue(rest, waitingSince);
		abandon();
		throw;
	}
}

void DocumentWriter::finish()
{
	if (source_ == nullptr)
		return;
	std::vector<RedisReplyPtr> replies;
	/*
	 * Not only a RedisError: a cancel heard while waiting (pg::checkInterrupts) comes as a PgError. The
	 * replies are gone either way (receive() consumed the target's record of what was sent), so the
	 * batch must not stay "in flight": the next finish() would read replies that never come.
	 */
	try {
		replies = redis_.receive();
	} catch (...) {
		abandon();
		throw;
	}
	if (replies.size() != keys_.size()) {
		abandon();
		throw RedisError("got " + std::to_string(replies.size()) + " replies from Redis for a batch of " +
						 std::to_string(keys_.size()) + " commands");
	}
	Source &source = *source_;
	TimestampTz now = GetCurrentTimestamp();
	for (size_t i = 0; i < keys_.size(); i++) {
		const redisReply *reply = replies[i].get();
		if (isErrorReply(reply)) {
			const char *command = deleted_[i] ? "DEL" : value_type::writeCommandName(source.def.valueType);
			source.keyFailed(keys_[i], value_type::refusal(source.def.valueType, command, describeReply(reply)), now);
			continue;
		}
		if (deleted_[i])
			source.keysDeleted(1);
		else
			source.documentWritten();
		source.keyWritten(keys_[i]);
	}
	source.pushed(now);
	clear();
}

void DocumentWriter::abandon()
{
	if (source_ != nullptr)
		source_->pending.requeue(keys_, waitingSince_);
	clear();
}

RedisTarget &DocumentWriter::settled()
{
	finish();
	return redis_;
}

TimestampTz DocumentWriter::inFlightSince(const Source &source) const
{
	return source_ == &source ? waitingSince_ : 0;
}

void DocumentWriter::clear()
{
	source_ = nullptr;
	keys_.clear();
	deleted_.clear();
	waitingSince_ = 0;
}

std::string scanPrefix(RedisTarget &redis, const std::string &prefix, const std::string &cursor, int count,
					   std::vector<std::string> &keys)
{
	/*
	 * Source prefixes are checked to hold no glob characters, so the pattern matches the prefix only.
	 * The bare "prefix:" comes back as the empty key, which names no document: it is an orphan.
	 */
	std::vector<std::string> found;
	std::string next = redis.scan(prefix + ":*", cursor, count, found);
	for (const std::string &key : found)
		if (key.size() > prefix.size())
			keys.emplace_back(key.substr(prefix.size() + 1));
	return next;
}

} // namespace cachepusher::redis_sink

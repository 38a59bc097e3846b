/*
 * What the worker writes to Redis: documents as pipelines of their write commands (SET, or a value
 * type's script: value_type.hpp) and DEL, and SCAN for stale keys.
 *
 * A batch's pipeline is sent without waiting for its replies: Redis stores it while the worker builds
 * the next batch through SPI, and the replies are read just before that next batch goes out. So
 * PostgreSQL and Redis work at the same time, with one batch in flight at most. In a Redis Cluster the
 * batch goes out as one pipeline per master, all of them in flight together (redis_target.hpp).
 */
#pragma once

#include "document_fetcher.hpp"
#include "redis_target.hpp"
#include "source.hpp"

#include <string>
#include <vector>

namespace cachepusher::redis_sink {

class DocumentWriter {
public:
	explicit DocumentWriter(RedisTarget &redis) : redis_(redis) {}
	DocumentWriter(const DocumentWriter &) = delete;
	DocumentWriter &operator=(const DocumentWriter &) = delete;

	/*
	 * Finishes the batch in flight, then sends SET prefix:key document (DEL when the document is
	 * gone) for every document as one pipeline, without waiting for the replies. waitingSince: when
	 * the oldest of these changes arrived; if the batch cannot be written, its keys go back to the
	 * source's pending keys with that age. Throws RedisError when the connection fails.
	 */
	void write(Source &source, const std::vector<Document> &documents, TimestampTz waitingSince);
	/*
	 * Reads the replies of the batch in flight and counts them. A refused command is logged with
	 * source and key and counted; the rest of the batch is still written. Throws RedisError when the
	 * connection fails (the batch's keys are pending again then).
	 */
	void finish();
	/* The batch in flight will get no replies (the connection is gone): its keys are pending again. */
	void abandon();
	/* The target with nothing in flight, for a command and its reply (finishes the batch first). */
	RedisTarget &settled();

	bool inFlight() const { return source_ != nullptr; }
	/* When the oldest change in flight arrived (for source); 0 when none is. */
	TimestampTz inFlightSince() const { return waitingSince_; }
	TimestampTz inFlightSince(const Source &source) const;

private:
	void clear();

	RedisTarget &redis_;
	Source *source_ = nullptr;
	std::vector<std::string> keys_;
	std::vector<bool> deleted_;
	TimestampTz waitingSince_ = 0;
};

/*
 * One SCAN step over prefix:* (on every node of the target in turn); returns the next cursor ("0"
 * when done) and appends keys without prefix.
 */
std::string scanPrefix(RedisTarget &redis, const std::string &prefix, const std::string &cursor, int count,
					   std::vector<std::string> &keys);

} // namespace cachepusher::redis_sink

/*
 * Deletes the keys of sources dropped with delete_keys (drop_source): one SCAN page of one prefix at a
 * time, its keys unlinked, the prefix forgotten in the catalog once its keys are gone. A prefix a
 * source serves again is forgotten without deleting anything.
 */
#pragma once

#include "redis_sink.hpp"
#include "backoff.hpp"
#include "settings.hpp"

#include <string>
#include <vector>

namespace cachepusher {

class SourceSet;

class PrefixSweeper {
public:
	/* Reads the prefixes to delete again (after the sources were loaded); another first one starts over. */
	void reload(bool extensionInstalled);
	/* Nothing to delete: part of being in sync. */
	bool idle() const { return forgotten_.empty(); }
	TimestampTz nextAttempt() const { return retry_.nextAttempt(); }
	/* One SCAN page of the first prefix deleted; whether there was anything to do. Throws RedisError. */
	bool step(redis_sink::DocumentWriter &writer, const SourceSet &sources);

private:
	void restart();

	/* Prefixes swept one after the other; the first one's cursor and how many keys it lost. */
	std::vector<std::string> forgotten_;
	std::string cursor_ = "0";
	int64 deleted_ = 0;
	/* Redis refused to delete (an ACL without UNLINK): the prefix is kept and tried again later. */
	Backoff retry_ = settings::retryBackoff();
};

} // namespace cachepusher

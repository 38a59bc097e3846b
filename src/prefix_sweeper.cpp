#include "prefix_sweeper.hpp"

#include "pg_boundary.hpp"
#include "source_catalog.hpp"
#include "source_set.hpp"

#include <hiredis/hiredis.h>

extern "C" {
#include "utils/timestamp.h"
}

namespace cachepusher {

void PrefixSweeper::restart()
{
	cursor_ = "0";
	deleted_ = 0;
}

void PrefixSweeper::reload(bool extensionInstalled)
{
	std::string sweeping = forgotten_.empty() ? "" : forgotten_.front();
	try {
		forgotten_ = extensionInstalled ? source_catalog::forgottenPrefixes() : std::vector<std::string>();
	} catch (const pg::PgError &e) {
		ereport(LOG, (errmsg("cachepusher: could not read the dropped prefixes: %s", e.what())));
	}
	if (forgotten_.empty() || forgotten_.front() != sweeping) {
		restart();
		retry_.reset();
	}
}

/* The prefix is a copy, held across Redis waits (and the drains they run, intake.hpp). */
bool PrefixSweeper::step(redis_sink::DocumentWriter &writer, const SourceSet &sources)
{
	if (forgotten_.empty())
		return false;
	const std::string prefix = forgotten_.front();
	if (!sources.servesPrefix(prefix)) {
		TimestampTz now = GetCurrentTimestamp();
		if (!retry_.due(now))
			return false;
		RedisTarget &redis = writer.settled();
		std::vector<std::string> found;
		std::string next = redis_sink::scanPrefix(redis, prefix, cursor_, settings::batchSize, found);
		std::string redisKey;
		for (const std::string &key : found) {
			redisKey = prefix + ":" + key;
			redis.append(redisKey, {"UNLINK", redisKey});
		}
		std::string refusal;
		if (!found.empty())
			for (auto &reply : redis.exchange()) {
				if (reply->type == REDIS_REPLY_INTEGER)
					deleted_ += reply->integer;
				else if (isErrorReply(reply.get()))
					refusal = describeReply(reply.get());
			}
		if (!refusal.empty()) {
			/* The page is scanned again next time; the prefix stays listed until its keys are gone. */
			long delay = retry_.failed(now);
			if (retry_.failures() == 1 || delay >= settings::retryMaxIntervalMs)
				ereport(LOG, (errmsg("cachepusher: Redis refused to delete keys of dropped source prefix %s:*: %s",
									 prefix.c_str(), refusal.c_str()),
							  errdetail("The deletion is retried in %ld ms.", delay),
							  errhint("The worker's Redis user needs the UNLINK command.")));
			return true;
		}
		retry_.reset();
		cursor_ = next;
		if (cursor_ != "0")
			return true;
		ereport(LOG, (errmsg("cachepusher: deleted %lld keys of dropped source prefix %s:*",
							 static_cast<long long>(deleted_), prefix.c_str())));
	}
	/*
	 * Done: the row goes. A prefix the sources still serve is only forgotten here: add_source removes
	 * the row of a prefix it reuses, so a row still there means the sources were read before the drop
	 * committed (the catalog and this list are read in two transactions); the next reload sweeps it.
	 */
	if (!sources.servesPrefix(prefix))
		source_catalog::prefixSwept(prefix);
	forgotten_.erase(forgotten_.begin());
	restart();
	return true;
}

} // namespace cachepusher

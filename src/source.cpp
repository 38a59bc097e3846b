#include "source.hpp"

#include "log_budget.hpp"
#include "log_text.hpp"
#include "settings.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

extern "C" {
#include "utils/timestamp.h"
}

namespace cachepusher {

bool SourceDefinition::sameAs(const SourceDefinition &o) const
{
	return name == o.name && prefix == o.prefix && documentFunction == o.documentFunction &&
		   keyQuery == o.keyQuery && owner == o.owner && channels == o.channels &&
		   documentsSql == o.documentsSql && setBased == o.setBased && keyTypes == o.keyTypes &&
		   keyTypeOids == o.keyTypeOids && keyTemplate == o.keyTemplate && textDocuments == o.textDocuments && expiry.ttlMs == o.expiry.ttlMs && expiry.field == o.expiry.field &&
		   valueType == o.valueType &&
		   problem == o.problem;
}

std::string SourceDefinition::redisKey(std::string_view key) const
{
	std::string result;
	result.reserve(prefix.size() + 3 + key.size());
	result.append(prefix).append(":");
	if (keyTemplate.hashTag() < 0)
		result.append(key); /* the key as it is: no copy */
	else
		result.append(keyTemplate.redisSuffix(key));
	return result;
}

void Source::documentsBuilt(size_t documents, int64 microseconds, TimestampTz now)
{
	documentCost.add(static_cast<int64>(documents), microseconds);
	stats_.msPerDocument = documentCost.msPerDocument();
	if (!documentCost.hintDue(now))
		return;
	ereport(LOG,
			(errmsg("cachepusher: source \"%s\": each document takes %.2f ms to build (the last %lld took %.1f s); "
					"the worker cannot write more than about %.0f documents/s of it",
					def.name.c_str(), stats_.msPerDocument, static_cast<long long>(DocumentCost::windowDocuments),
					stats_.msPerDocument * DocumentCost::windowDocuments / 1000.0, 1000.0 / stats_.msPerDocument),
			 errhint("A document function that looks child rows up by a column with no index on it reads the "
					 "whole child table for every key: an index on that column (for the 2015 seed's schema, "
					 "CREATE INDEX ON address (fk_customer)) usually makes it 10 to 100 times faster. A "
					 "documents_query builds a whole batch in one query. status.ms_per_document shows the cost.")));
}

void Source::markOverflowed(TimestampTz since)
{
	/* Never 0: that means not overflowed. */
	since = std::max<TimestampTz>(since, 1);
	if (overflowedSince_ == 0 || since < overflowedSince_)
		overflowedSince_ = since;
}

TimestampTz Source::takeOverflow()
{
	/* The warmup stands in for the dropped keys, the oldest of which waits since then. */
	TimestampTz oldest = pending.empty() ? overflowedSince_ : std::min(pending.oldestSince(), overflowedSince_);
	pending.clear();
	overflowedSince_ = 0;
	return oldest;
}

void Source::startStats(const std::string &name, TimestampTz since)
{
	strlcpy(stats_.name, name.c_str(), sizeof(stats_.name));
	stats_.warmupTotal = -1;
	stats_.statsSince = since;
}

void Source::replaceError(const std::string &was, const std::string &message, TimestampTz now)
{
	if (std::string_view(stats_.lastError) ==
		std::string_view(was).substr(0, clippedLength(was, sizeof(stats_.lastError) - 1)))
		setLastError(message, now);
}

void Source::recordError(const std::string &message, TimestampTz now)
{
	stats_.errors++;
	setLastError(message, now);
}

void Source::setLastError(const std::string &message, TimestampTz now)
{
	copyClipped(message, stats_.lastError, sizeof(stats_.lastError));
	stats_.lastErrorAt = now;
}

/* Failing keys remembered per source; beyond, a warmup stands in for the others at the next retry. */
constexpr size_t maxFailingKeys = 10000;

void Source::keyFailed(const std::string &key, const std::string &error, TimestampTz now, bool retry)
{
	if (retry) {
		auto found = failingKeys_.find(key);
		if (found != failingKeys_.end()) {
			if (found->second == error)
				return; /* already logged and counted */
			found->second = error;
		} else if (failingKeys_.size() < maxFailingKeys) {
			failingKeys_.emplace(key, error);
			if (failingKeys_.size() == 1 && !failingDroppedSince_)
				failingRetryAt_ = TimestampTzPlusMilliseconds(now, settings::retryMaxIntervalMs);
		} else if (!failingDroppedSince_) {
			failingDroppedSince_ = now;
			ereport(LOG, (errmsg("cachepusher: source \"%s\": more than %zu keys are failing", def.name.c_str(),
								 maxFailingKeys),
						  errdetail("Those beyond are not retried one by one: the source is resynced instead, "
									"after retry_max_interval, then less often (up to every 10 minutes) while "
									"more keys than that keep failing.")));
		}
	}
	std::string line = "key \"" + logExcerpt(key) + "\": " + logExcerpt(error, 300);
	if (log_budget::allow(now))
		ereport(LOG, (errmsg("cachepusher: source \"%s\", %s", def.name.c_str(), line.c_str())));
	recordError(line, now);
}

void Source::retryFailingKeys(TimestampTz now)
{
	if ((failingKeys_.empty() && !failingDroppedSince_) || now < failingRetryAt_)
		return;
	if (failingDroppedSince_ && now >= failingResyncAt_) {
		/*
		 * A warmup rewrites every key, the remembered failing ones too (they stay remembered). Keys that
		 * keep failing (bad data) would have it warm again at every retry: each next one waits longer.
		 */
		markOverflowed(std::exchange(failingDroppedSince_, 0));
		failingResyncAt_ = TimestampTzPlusMilliseconds(now, failingResyncs_.failed(now));
	} else {
		for (const auto &failing : failingKeys_)
			pending.add(failing.first, now);
	}
	failingRetryAt_ = TimestampTzPlusMilliseconds(now, settings::retryMaxIntervalMs);
}

void Source::keyWritten(const std::string &key)
{
	if (failingKeys_.empty())
		return;
	auto found = failingKeys_.find(key);
	if (found == failingKeys_.end())
		return;
	failingKeys_.erase(found);
	if (failingKeys_.empty())
		failingResyncs_.reset();
	ereport(LOG, (errmsg("cachepusher: source \"%s\", key \"%s\" written again after failing", def.name.c_str(),
						 logExcerpt(key).c_str())));
}

} // namespace cachepusher

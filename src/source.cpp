#include "source.hpp"

#include "settings.hpp"

#include <algorithm>
#include <cstring>

extern "C" {
#include "utils/timestamp.h"
}

namespace cachepusher {

bool SourceDefinition::sameAs(const SourceDefinition &o) const
{
	return name == o.name && prefix == o.prefix && documentFunction == o.documentFunction &&
		   keyQuery == o.keyQuery && owner == o.owner && channels == o.channels &&
		   documentsSql == o.documentsSql && problem == o.problem;
}

std::string SourceDefinition::redisKey(std::string_view key) const
{
	std::string result;
	result.reserve(prefix.size() + 1 + key.size());
	result.append(prefix).append(":").append(key);
	return result;
}

long Backoff::failed(TimestampTz now)
{
	long delay = settings::retryIntervalMs;
	for (int i = 0; i < failures_ && delay < settings::retryMaxIntervalMs; i++)
		delay *= 2;
	delay = std::min<long>(delay, std::max(settings::retryMaxIntervalMs, settings::retryIntervalMs));
	failures_++;
	nextAttempt_ = TimestampTzPlusMilliseconds(now, delay);
	return delay;
}

void Source::recordError(const std::string &message, TimestampTz now)
{
	stats.errors++;
	strlcpy(stats.lastError, message.c_str(), sizeof(stats.lastError));
	stats.lastErrorAt = now;
}

void Source::keyFailed(const std::string &key, const std::string &error, TimestampTz now)
{
	ereport(LOG, (errmsg("cachepusher: source \"%s\", key \"%s\": %s", def.name.c_str(), key.c_str(),
						 error.c_str())));
	recordError("key \"" + key + "\": " + error, now);
}

} // namespace cachepusher

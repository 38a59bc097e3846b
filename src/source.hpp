/* A source as the worker sees it: its definition from cachepusher.source and its runtime state. */
#pragma once

#include "composite_key.hpp"
#include "document_cost.hpp"
#include "log_window.hpp"
#include "pending_keys.hpp"
#include "settings.hpp"
#include "shared_state.hpp"
#include "value_type.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

extern "C" {
#include "postgres.h"
#include "executor/spi.h"
}

namespace cachepusher {

struct SourceDefinition {
	std::string name;
	std::string prefix;
	std::string documentFunction; /* qualified signature, as stored; empty for a set-based source */
	std::string keyQuery;
	Oid owner = InvalidOid;
	std::vector<std::string> channels;
	/*
	 * What builds the documents of a batch of keys: for a document function, SELECT key,
	 * function(key), key as its type prints it FROM unnest($1::text[]) (a key of N columns: the key,
	 * then one array per column, composite_key.hpp); for a set-based source, its documents query as
	 * given, with $1 .. $N of types keyTypes[i][]. Empty when the source cannot be served.
	 */
	std::string documentsSql;
	bool setBased = false;
	/*
	 * The type of each column of the key, qualified (the document function's argument types, or the
	 * element types of the documents query's arrays); one for a key of one column.
	 */
	std::vector<std::string> keyTypes;
	std::vector<Oid> keyTypeOids;
	/* How a key is laid out in Redis after "prefix:"; knows how many columns a key has. */
	composite_key::KeyTemplate keyTemplate;
	/* Set-based: whether documents come as text (checked to be JSON). */
	bool textDocuments = false;
	/* How long a document lives in Redis after each write: its own member, or the source's TTL. */
	value_type::Expiry expiry;
	value_type::ValueType valueType = value_type::ValueType::String;
	/* Why the source cannot be served (function gone, wrong signature, owner gone); empty if fine. */
	std::string problem;

	bool sameAs(const SourceDefinition &other) const;
	/* The Redis key of a key: "prefix:" and the key laid out by the key template. */
	std::string redisKey(std::string_view key) const;
	size_t keyColumns() const { return keyTemplate.columns(); }
};

struct Warmup {
	enum class Phase { Idle, Requested, Reading, Sweeping };
	Phase phase = Phase::Idle;
	std::string cursorName;
	/* Hashes of every key the key query returned, to tell stale Redis keys apart (8 bytes a key). */
	std::vector<uint64_t> seenKeyHashes;
	std::string scanCursor = "0";
	/* The oldest change this warmup stands in for (wait_for_sync waits for it); startedAt is later. */
	TimestampTz requestedAt = 0;
	TimestampTz startedAt = 0;
	TimestampTz lastProgressAt = 0;
	int64 keysTotal = 0;
	int64 keysRead = 0;
	int64 staleCandidates = 0;
	Backoff retry = settings::retryBackoff();
	/* Keys notified while a resync is requested but not yet reading are covered by that resync. */
	bool coversNewKeys() const { return phase == Phase::Requested; }
	bool active() const { return phase != Phase::Idle; }
};

struct Source {
	Source() = default;
	/* The worker's sources count their pending keys in the source set's total (max_pending). */
	explicit Source(PendingTotal &total) : pending(&total) {}

	SourceDefinition def;
	/* The documents query (or the document function's call), for batches of many keys and of few. */
	SPIPlanPtr documentsPlan = nullptr;
	SPIPlanPtr documentsGenericPlan = nullptr;
	PendingKeys pending;
	Warmup warmup;

	/* The counters status shows (SourceSet::publish adds state, pending and the cost). */
	const SourceStats &stats() const { return stats_; }
	/* A new source's counters: its name, counted since the catalog load that brought it. */
	void startStats(const std::string &name, TimestampTz since);
	void keyReceived() { stats_.keysReceived++; }
	/* An empty notification: received, names no document (keys_ignored). */
	void emptyKeyIgnored() { stats_.keysReceived++, stats_.keysIgnored++; }
	/* A key that is no key of the source (its line is logged by the caller). */
	void badKeyCounted() { stats_.errors++; }
	void documentWritten() { stats_.documentsWritten++; }
	void keysDeleted(int64 count) { stats_.keysDeleted += count; }
	void pushed(TimestampTz at) { stats_.lastPushAt = at; }
	/* How far the warmup is: keys written of total (-1: not known yet). */
	void warmupProgress(int64 done, int64 total) { stats_.warmupDone = done, stats_.warmupTotal = total; }

	/* The last warmup or batch failed for the whole source (not for one key): status says "error". */
	bool failed() const { return failed_; }
	void markFailed() { failed_ = true; }
	void clearFailed() { failed_ = false; }

	/*
	 * More keys arrived than max_pending holds, or the commit queue had no room for them: they are
	 * dropped, and a warmup stands in for them (SourceSet::resolveOverflows). since: when.
	 */
	void markOverflowed(TimestampTz since);
	bool overflowed() const { return overflowedSince_ != 0; }
	/* Ends the overflow: the pending keys are dropped; returns the oldest change the warmup must cover. */
	TimestampTz takeOverflow();
	/* Another warmup is owed once the running one ends, standing in for the changes since covers. */
	void oweRewarm(TimestampTz covers) { rewarmCovers_ = rewarmCovers_ ? std::min(rewarmCovers_, covers) : covers; }
	/* When the changes the owed warmup stands in for began; 0 when none is owed. */
	TimestampTz rewarmOwed() const { return rewarmCovers_; }
	/* The owed warmup is being asked for: returns rewarmOwed() and owes none. */
	TimestampTz takeRewarm() { return std::exchange(rewarmCovers_, 0); }
	/*
	 * A warmup that has not opened its key cursor yet stands in for every key changed now: one
	 * requested, one owed after the running warmup, or one an overflow is about to ask for. Such keys
	 * are not kept, so a writer faster than the worker costs one more warmup, not one per burst.
	 */
	bool warmupCoversNewKeys() const { return warmup.coversNewKeys() || rewarmCovers_ != 0 || overflowed(); }
	Backoff fetchRetry = settings::retryBackoff();

	/*
	 * Keys whose document could not be built or written (keyFailed) are pending again every
	 * retry_max_interval: a failure may pass (a lock, a timeout, an ACL fixed). When that is due
	 * (now or later), the failing keys are pending again and the next retry is set. Keys beyond the
	 * ones remembered are not lost: a warmup stands in for them then (markOverflowed).
	 */
	void retryFailingKeys(TimestampTz now);
	/* When the failing keys are next retried; 0 when none fails. */
	TimestampTz failingKeysRetryAt() const
	{
		return failingKeys_.empty() && !failingDroppedSince_ ? 0 : failingRetryAt_;
	}
	/* The hint that a batch of this source ran past statement_timeout: every ten minutes at most. */
	LogInterval batchTooSlowHint{600 * 1000};
	/* What a document costs to build; said when slow (DocumentCost). */
	DocumentCost documentCost;
	/* The line that an empty notification was ignored: every ten minutes at most. */
	LogInterval emptyKeyLine{600 * 1000};

	/* last_error and its time, and one more in errors. */
	void recordError(const std::string &message, TimestampTz now);
	/* last_error becomes message if it is was (as recorded: clipped), and errors stays. */
	void replaceError(const std::string &was, const std::string &message, TimestampTz now);
	/* One query built (or found gone) this many documents in so many microseconds; may log the hint. */
	void documentsBuilt(size_t documents, int64 microseconds, TimestampTz now);
	/*
	 * A key whose document could not be built or written: one log line naming source and key (within
	 * log_budget), an error counted. retry: false when no later attempt can succeed (the key is not of
	 * the key type).
	 */
	void keyFailed(const std::string &key, const std::string &error, TimestampTz now, bool retry = true);
	/* A key's document is in Redis (or deleted): it no longer fails. */
	void keyWritten(const std::string &key);

private:
	void setLastError(const std::string &message, TimestampTz now);
	SourceStats stats_{};
	bool failed_ = false;
	/* Non-zero while overflowed: when the first key was dropped. */
	TimestampTz overflowedSince_ = 0;
	/* Non-zero while a warmup is owed after the running one. */
	TimestampTz rewarmCovers_ = 0;
	/* Failing keys with the reason, each logged and counted once until it succeeds. */
	std::unordered_map<std::string, std::string> failingKeys_;
	TimestampTz failingRetryAt_ = 0;
	/* Non-zero when a failing key did not fit among the remembered ones: when the first did not. */
	TimestampTz failingDroppedSince_ = 0;
	/* The resyncs standing in for those keys: from retry_max_interval apart up to 10 minutes. */
	static constexpr int failingResyncMaxMs = 600 * 1000;
	Backoff failingResyncs_{settings::retryMaxIntervalMs, failingResyncMaxMs};
	TimestampTz failingResyncAt_ = 0;
};

} // namespace cachepusher

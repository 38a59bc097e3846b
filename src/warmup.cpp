#include "warmup.hpp"

#include "document_fetcher.hpp"
#include "redis_sink.hpp"
#include "settings.hpp"
#include "spi.hpp"
#include "transaction.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <functional>

extern "C" {
#include "utils/timestamp.h"
}

namespace cachepusher::warmup {
namespace {

constexpr long progressLogMs = 5000;

uint64_t keyHash(std::string_view key)
{
	return std::hash<std::string_view>{}(key);
}

void openCursor(Source &source)
{
	static uint64 cursorCounter = 0;
	Warmup &w = source.warmup;
	w.cursorName = "cachepusher_warmup_" + std::to_string(++cursorCounter);
	/*
	 * The held cursor runs the key query to completion when its transaction commits, so that commit
	 * must happen as the owner too: functions in the key query then run with the owner's rights. The
	 * role changes inside the transaction: a transaction starts with no security restriction set.
	 */
	pg::startTransaction("cachepusher: warmup key query");
	try {
		pg::asRole(source.def.owner, [&] {
			/* The key query runs when the commit materializes the cursor. */
			pg::withStatementTimeout([&] {
				spi::declareHeldCursor(w.cursorName, source.def.keyQuery);
				pg::commitTransaction();
			});
		});
	} catch (...) {
		pg::abortTransaction();
		throw;
	}
	/* Settings the key query made at that commit would outlive it: undo them. */
	pg::resetSessionSettings();
}

void closeCursor(Warmup &w)
{
	if (w.cursorName.empty())
		return;
	std::string name = std::move(w.cursorName);
	w.cursorName.clear();
	pg::inTransaction("cachepusher: closing warmup cursor", [&] { spi::closeCursor(name); });
}

void fail(Source &source, const std::string &what, const std::string &error)
{
	TimestampTz now = GetCurrentTimestamp();
	long delay = source.warmup.retry.failed(now);
	ereport(LOG, (errmsg("cachepusher: source \"%s\": %s: %s", source.def.name.c_str(), what.c_str(),
						 error.c_str()),
				  errdetail("The warmup is retried in %ld ms.", delay)));
	source.recordError(what + ": " + error, now);
	source.markFailed();
	try {
		closeCursor(source.warmup);
	} catch (const pg::PgError &) {
		/* The cursor dies with its failed transaction or at the latest with the worker. */
	}
	source.warmup.phase = Warmup::Phase::Requested;
}

bool startReading(Source &source)
{
	Warmup &w = source.warmup;
	if (!w.retry.due(GetCurrentTimestamp()))
		return false;
	try {
		openCursor(source);
	} catch (const pg::PgError &e) {
		fail(source, "key query failed", e.what());
		return true;
	}
	w.phase = Warmup::Phase::Reading;
	w.startedAt = GetCurrentTimestamp();
	w.lastProgressAt = w.startedAt;
	w.keysRead = 0;
	w.staleCandidates = 0;
	w.seenKeyHashes.clear();
	w.scanCursor = "0";
	source.warmupProgress(0, -1);
	try {
		pg::inTransaction("cachepusher: warmup", [&] { w.keysTotal = static_cast<int64>(spi::countRows(w.cursorName)); });
	} catch (const pg::PgError &e) {
		fail(source, "warmup failed", e.what());
		return true;
	}
	source.warmupProgress(0, w.keysTotal);
	w.seenKeyHashes.reserve(w.keysTotal);
	ereport(LOG, (errmsg("cachepusher: warming source \"%s\": %lld keys", source.def.name.c_str(),
						 static_cast<long long>(w.keysTotal))));
	return true;
}

/* Every few seconds: done/total, rate and time left, so a long warmup is never a silent one. */
void logProgress(Source &source)
{
	Warmup &w = source.warmup;
	TimestampTz now = GetCurrentTimestamp();
	if (!TimestampDifferenceExceeds(w.lastProgressAt, now, progressLogMs))
		return;
	w.lastProgressAt = now;
	double seconds = (now - w.startedAt) / 1e6;
	double rate = seconds > 0 ? w.keysRead / seconds : 0;
	int64 left = std::max<int64>(0, w.keysTotal - w.keysRead);
	ereport(LOG, (errmsg("cachepusher: warming source \"%s\": %lld of %lld keys (%.0f%%), %.0f keys/s, about %.0f s left",
						 source.def.name.c_str(), static_cast<long long>(w.keysRead),
						 static_cast<long long>(w.keysTotal), w.keysTotal > 0 ? 100.0 * w.keysRead / w.keysTotal : 100.0,
						 rate, rate > 0 ? left / rate : 0.0)));
}

void readChunk(Source &source, redis_sink::DocumentWriter &writer)
{
	Warmup &w = source.warmup;
	std::vector<std::string> keys;
	std::vector<Document> documents;
	std::vector<FailedKey> failed;
	uint64 rows = 0;
	TimestampTz fetchStarted = 0, fetchEnded = 0;
	try {
		pg::inTransaction("cachepusher: warmup", [&] {
			rows = spi::fetchFromCursor(w.cursorName, settings::batchSize);
			keys.reserve(rows);
			/* NULL and the empty string are no keys (the latter would be the bare "prefix:"). */
			for (uint64 row = 0; row < rows; row++) {
				auto key = keyInRow(row, 1, source.def.keyColumns());
				if (key && !key->empty())
					keys.push_back(std::move(*key));
			}
			if (!keys.empty()) {
				fetchStarted = GetCurrentTimestamp();
				fetchDocuments(source, keys, documents, failed);
				fetchEnded = GetCurrentTimestamp();
			}
		});
	} catch (const pg::PgError &e) {
		fail(source, "warmup failed", e.what());
		return;
	}

	if (rows == 0) {
		closeCursor(w);
		std::sort(w.seenKeyHashes.begin(), w.seenKeyHashes.end());
		w.phase = Warmup::Phase::Sweeping;
		source.warmupProgress(w.keysRead, w.keysRead); /* rows with a NULL or empty key are not keys */
		return;
	}

	TimestampTz now = GetCurrentTimestamp();
	if (!keys.empty())
		source.documentsBuilt(keys.size(), fetchEnded - fetchStarted, now);
	for (const FailedKey &f : failed)
		source.keyFailed(f.key, f.error, now, f.retry);
	/*
	 * What the sweep keeps: the keys written, as written (a key the key query spells otherwise than
	 * its type prints it is written under the printed one: document_fetcher.hpp), and the failing ones,
	 * whose old values stay until they can be written.
	 */
	for (const Document &document : documents)
		if (document.body)
			w.seenKeyHashes.push_back(keyHash(document.key));
	for (const FailedKey &f : failed)
		w.seenKeyHashes.push_back(keyHash(f.key));
	/* Should Redis fail, the chunk is not lost: its keys go the way of any notified key once it is back. */
	writer.write(source, documents, w.requestedAt);
	w.keysRead += keys.size();
	source.warmupProgress(w.keysRead, w.keysTotal);
	logProgress(source);
}

/*
 * Redis keys under the prefix that no key of the source is laid out as (its key template: "{$1}:$2"
 * wants the braces): nothing the worker writes can be there, so they go at once. (Should Redis refuse,
 * the next warmup tries again.)
 */
void deleteNotKeys(Source &source, RedisTarget &redis, const std::vector<std::string> &redisKeys)
{
	if (redisKeys.empty())
		return;
	for (const std::string &redisKey : redisKeys)
		redis.append(redisKey, {"UNLINK", redisKey});
	std::string refusal;
	for (auto &reply : redis.exchange()) {
		if (reply->type == REDIS_REPLY_INTEGER)
			source.keysDeleted(reply->integer);
		else if (isErrorReply(reply.get()))
			refusal = describeReply(reply.get());
	}
	if (!refusal.empty())
		source.recordError("Redis refused to delete a key that is not laid out as the key template says: " + refusal,
						   GetCurrentTimestamp());
}

void sweepStaleKeys(Source &source, redis_sink::DocumentWriter &writer)
{
	Warmup &w = source.warmup;
	std::vector<std::string> found;
	std::string next =
		redis_sink::scanPrefix(writer.settled(), source.def.prefix, w.scanCursor, settings::batchSize, found);
	std::vector<std::string> unknown, notKeys;
	for (std::string &suffix : found) {
		std::optional<std::string> key = source.def.keyTemplate.keyOf(suffix);
		if (!key)
			notKeys.push_back(source.def.prefix + ":" + suffix);
		else if (!std::binary_search(w.seenKeyHashes.begin(), w.seenKeyHashes.end(), keyHash(*key)))
			unknown.push_back(std::move(*key));
	}
	deleteNotKeys(source, writer.settled(), notKeys);
	/* Part of this warmup: they wait since it was asked for, so wait_for_sync() waits for them too. */
	w.staleCandidates += source.pending.requeue(unknown, w.requestedAt);
	w.scanCursor = next;
	TimestampTz now = GetCurrentTimestamp();
	if (next != "0")
		return;

	long secs;
	int usecs;
	TimestampDifference(w.startedAt, now, &secs, &usecs);
	ereport(LOG, (errmsg("cachepusher: source \"%s\" warmed: %lld keys in %.3f s; %lld keys under its prefix that "
						 "the key query did not return queued for a re-check (deleted when gone)",
						 source.def.name.c_str(), static_cast<long long>(w.keysRead), secs + usecs / 1e6,
						 static_cast<long long>(w.staleCandidates))));
	w.phase = Warmup::Phase::Idle;
	w.retry.reset();
	std::vector<uint64_t>().swap(w.seenKeyHashes);
	source.clearFailed();
}

} // namespace

void request(Source &source, TimestampTz covers)
{
	Warmup &w = source.warmup;
	if (covers == 0)
		covers = GetCurrentTimestamp();
	if (w.active())
		covers = std::min(covers, w.requestedAt);
	/* A warmup from the first key stands in for the one owed after the running warmup, too. */
	if (TimestampTz owed = source.takeRewarm(); owed != 0)
		covers = std::min(covers, owed);
	cancel(source);
	w.phase = Warmup::Phase::Requested;
	w.requestedAt = covers;
	w.retry.reset();
}

void cancel(Source &source)
{
	source.warmup.phase = Warmup::Phase::Idle;
	std::vector<uint64_t>().swap(source.warmup.seenKeyHashes);
	closeCursor(source.warmup); /* last: it may raise */
}

bool step(Source &source, redis_sink::DocumentWriter &writer)
{
	switch (source.warmup.phase) {
	case Warmup::Phase::Idle:
		return false;
	case Warmup::Phase::Requested:
		return startReading(source);
	case Warmup::Phase::Reading:
		readChunk(source, writer);
		return true;
	case Warmup::Phase::Sweeping:
		sweepStaleKeys(source, writer);
		return true;
	}
	return false;
}

} // namespace cachepusher::warmup

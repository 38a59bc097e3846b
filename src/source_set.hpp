/*
 * The sources the worker serves, as the catalog (cachepusher.source) last said: loaded and compared on
 * each reload (a changed source is warmed again), looked up by name and channel, listened to, and
 * worked through: one batch of pending keys, one warmup step at a time. Owns the pending total
 * that max_pending bounds: every source's pending set counts itself in it.
 */
#pragma once

#include "redis_sink.hpp"
#include "source.hpp"

#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace cachepusher {

class SourceSet {
public:
	SourceSet() = default;
	SourceSet(const SourceSet &) = delete;
	SourceSet &operator=(const SourceSet &) = delete;

	/*
	 * Reads the catalog: new and changed sources are warmed, standing in for changes since askedAt
	 * (at the first load, since startedAt; 0: since now); dropped ones are forgotten. Call with no
	 * batch in flight. False when the catalog could not be read (logged; not in sync then).
	 */
	bool reload(TimestampTz askedAt, TimestampTz startedAt);
	/* LISTEN to the worker's own channels and those the sources name, UNLISTEN the others (after reload()). */
	void listenToChannels();
	/* A LISTEN or UNLISTEN failed (it raised): listenToChannels() is to be called again. */
	bool listeningAsWanted() const { return listening_ == wanted_; }
	bool extensionInstalled() const { return extensionInstalled_; }
	TimestampTz lastLoad() const { return lastLoad_; }
	/* Whether the catalog was read once: until then a key names a source not known yet. */
	bool loaded() const { return !firstLoad_; }
	/* The first load warms every source whatever warmup_on_start says (a standby just promoted). */
	void warmAtFirstLoad() { warmAtFirstLoad_ = true; }

	bool empty() const { return sources_.empty(); }
	Source *find(std::string_view name) const;
	/* The sources a notification on channel is a key of; nullptr when none. */
	const std::vector<Source *> *onChannel(std::string_view channel) const;
	bool servesPrefix(const std::string &prefix) const;
	size_t pendingTotal() const { return pendingTotal_.value(); }

	/* Counts an error on the named source, or on every source when name is empty. */
	void recordError(const std::string &name, const std::string &message, TimestampTz now);
	/* On every source whose last error is was: message instead, not counted again. */
	void replaceError(const std::string &was, const std::string &message, TimestampTz now);
	/*
	 * Keys of source name ("" means every source) were dropped since `since`: the source is marked
	 * overflowed, as a max_pending overflow marks it, and the error is recorded; unless a warmup that
	 * has not opened its cursor yet already covers them (one episode, one error).
	 */
	void markOverflowed(const std::string &name, TimestampTz since, const std::string &message);
	/*
	 * The pending set is full, so the commit queue is not read: a source waiting out a failure of its
	 * own (its plan cannot be prepared) would hold back every source's keys behind its own. Such a
	 * source's keys are marked overflowed: dropped, and a warmup stands in for them.
	 */
	void releaseKeysOfFailedSources(TimestampTz now);
	/* Sources whose pending keys overflowed max_pending: their keys are dropped and a warmup owed. */
	void resolveOverflows();
	/* Warmups asked for ("" names every source), standing in for changes since covers. */
	void resync(const std::vector<std::string> &names, TimestampTz covers);
	/* Keys that failed, pending again every retry_max_interval. */
	void retryFailingKeys();

	/*
	 * One batch of one source's pending keys (round robin) built and sent; whether there was one. A
	 * source's keys make a batch once batch_size of them wait or the oldest waited batch_delay.
	 */
	bool pushOneBatch(redis_sink::DocumentWriter &writer);
	/* When the first batch that waits for more keys is due; 0 when no keys wait for more. */
	TimestampTz batchesDueAt(TimestampTz now) const;
	/* One step of one warmup; whether there was one. */
	bool warmupStep(redis_sink::DocumentWriter &writer);

	/* Whether every change before t of every served source is in Redis (or failed), catalog read. */
	bool caughtUpTo(TimestampTz t) const;
	/* Publishes every source's counters and state (status). */
	void publish(const redis_sink::DocumentWriter &writer, bool redisConnected) const;
	/* The earliest of wake and the sources' next retries. */
	TimestampTz wakeAt(TimestampTz wake) const;

private:
	Source *nextWithPending();

	/* Before sources_: their pending sets count themselves in it until they are destroyed. */
	PendingTotal pendingTotal_;
	std::vector<std::unique_ptr<Source>> sources_;
	std::unordered_map<std::string, Source *> byName_;
	std::unordered_map<std::string, std::vector<Source *>> byChannel_;
	std::set<std::string> wanted_; /* the channels the sources name, and ours */
	std::set<std::string> listening_; /* the channels LISTENed to */
	size_t roundRobin_ = 0;
	/* The last catalog read failed: what it would have loaded is not served, so not in sync. */
	bool catalogFailed_ = false;
	/* What the failed read's warmups would have stood in for (the reload asked for then is taken). */
	TimestampTz failedLoadCovers_ = 0;
	bool extensionInstalled_ = false;
	bool firstLoad_ = true;
	bool warmAtFirstLoad_ = false;
	TimestampTz lastLoad_ = 0;
};

} // namespace cachepusher

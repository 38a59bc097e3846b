/*
 * Intake: everything that reaches the worker, read and recorded (docs/design.md §2). Notifications
 * (listener::Handler), commit-queue entries (key_queue::Reader), control messages and prepared
 * transactions' entries become pending keys of the sources or requests for the loop (a reload, a
 * resync); max_pending is enforced here, on the source set's one pending total.
 *
 * Re-entrancy: drainDuringRedisWait() is RedisTarget's wake callback, so it runs inside any Redis
 * wait: in the middle of a batch, a warmup chunk or a sweep. That is why a drain only adds: keys to a
 * source's pending set, flags and counts, requests, prepared entries. It never removes a source, never
 * takes or clears pending keys and never reloads; code that holds a Source across a Redis call stays
 * valid, and keys already taken from a pending set are that code's own copy.
 */
#pragma once

#include "key_queue.hpp"
#include "log_window.hpp"
#include "listener.hpp"
#include "prepared_transactions.hpp"
#include "sync_tracker.hpp"

#include <string>
#include <string_view>
#include <vector>

extern "C" {
#include "datatype/timestamp.h"
}

namespace cachepusher {

struct Source;
class SourceSet;

class Intake final : public listener::Handler, public key_queue::Reader {
public:
	explicit Intake(SourceSet &sources);
	Intake(const Intake &) = delete;
	Intake &operator=(const Intake &) = delete;

	/*
	 * Reads the notifications and the commit queue, when a signal or the queue says something waits;
	 * with force, to their end (everything committed before the call). Logs the deferred lines.
	 */
	void drain(bool force = false);
	/* The same, from inside a Redis wait: see the re-entrancy note above. */
	void drainDuringRedisWait() { drain(); }
	/* Takes the keys of prepared transactions that committed since the last look. */
	void resolvePrepared();
	void findPrepared() { prepared_.findAtStart(); }
	bool preparedWaiting() const { return prepared_.waiting(); }
	/* Every commit-queue entry before this was handed over or skipped (wait_for_sync). */
	uint64 queueFrontier() const { return queueFrontier_; }
	/* When the last drain began: the time keys of that drain are pending since. */
	TimestampTz drainTime() const { return drainTime_; }

	/* Since when the worker takes changes: what a resync of everything lost stands in for. */
	TimestampTz startedAt() const { return startedAt_; }
	void restarted(TimestampTz now) { startedAt_ = now; }

	/* Requests for the loop. at / covers: the oldest change the request stands in for. */
	void askReload(TimestampTz at);
	bool reloadRequested() const { return reloadRequested_; }
	/* The reload is being done: returns since when it was asked (0: not asked, a periodic one). */
	TimestampTz takeReload();
	/* source "" means every source. */
	void askForResync(const std::string &source, TimestampTz covers);
	void askForResyncSinceStart() { askForResync("", startedAt_); }
	bool resyncRequested() const { return !resyncRequests_.empty(); }
	/* Moves the requested sources into names; returns the oldest change they stand in for. */
	TimestampTz takeResyncRequests(std::vector<std::string> &names);
	/* Whether a notification or entry could not be kept since the last call (out of memory). */
	bool takeLostNotifications();
	/* Nothing read is still waiting to become work (part of wait_for_sync's answer). */
	bool caughtUp() const { return !reloadRequested_ && resyncRequests_.empty() && !lostNotifications_; }

	/* key_queue::Reader: stop reading while the pending set is full. */
	bool full() const override;

private:
	/* listener::Handler: runs inside PostgreSQL's notify code, so it only records. */
	void onNotification(std::string_view channel, std::string_view payload) override;
	void onLostNotification() override { lostNotifications_ = true; }
	/* key_queue::Reader: the commit queue's entries. */
	void onEntry(key_queue::Kind kind, std::string_view payload) override;
	void onPreparedEntry(key_queue::Kind kind, std::string_view payload, TransactionId xid) override;

	void onControlMessage(std::string_view message);
	void acceptKeysPayload(std::string_view message, const char *from, bool queued);
	void acceptKey(Source &source, std::string_view key, bool queued = false);
	void ignoreEmptyKey(Source &source, std::string_view channel);
	void drainQueue();
	void queueOverflowed();
	void deferLog(std::string line);

	SourceSet &sources_;
	PreparedTransactions prepared_;
	TimestampTz startedAt_;

	bool reloadRequested_ = true;
	AskedAt reloadAskedAt_;
	std::vector<std::string> resyncRequests_; /* source names; "" means all */
	AskedAt resyncAskedAt_;
	bool lostNotifications_ = false;

	/* Lines about bad notifications, logged once the drain is over (within log_budget). */
	std::vector<std::string> deferredLog_;
	TimestampTz drainTime_ = 0;

	/* The commit queue: read up to here; when the last full queue was said, and how often since. */
	uint64 queueFrontier_ = 0;
	LogInterval queueFullLine_{60000};
	uint64 queueFullUnlogged_ = 0;
};

} // namespace cachepusher

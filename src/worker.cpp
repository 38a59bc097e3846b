/*
 * The background worker: the loop that ties the data flow of docs/design.md §2 together.
 *   drain the commit queue and notifications -> pending keys per source -> fetch documents (SPI)
 *   -> write to Redis
 * with warmups interleaved chunk by chunk, and every wait on the latch so SIGTERM, SIGHUP and new
 * notifications are heard at once.
 */
#include "key_queue.hpp"
#include "listener.hpp"
#include "log_budget.hpp"
#include "log_text.hpp"
#include "notification_payload.hpp"
#include "pg_boundary.hpp"
#include "prepared_transactions.hpp"
#include "redis_identity.hpp"
#include "redis_sink.hpp"
#include "redis_target.hpp"
#include "settings.hpp"
#include "shared_state.hpp"
#include "source_catalog.hpp"
#include "source_set.hpp"
#include "prefix_sweeper.hpp"
#include "spi.hpp"
#include "sync_tracker.hpp"
#include "transaction.hpp"

#include <algorithm>
#include <cstring>

extern "C" {
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "access/xlog.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

PGDLLEXPORT void cachepusher_worker_main(Datum);
}

namespace cachepusher {
namespace {

namespace payload = notification_payload;

/* Also re-read the catalog this often, for changes that sent no message (pg_restore, DROP EXTENSION). */
constexpr long catalogRefreshMs = 10000;
/* How often a worker on a standby checks whether the server was promoted. */
constexpr long standbyPollMs = 500;
/* How often a connected, idle worker checks that Redis still holds its marker (was not flushed). */
constexpr long markerCheckMs = 1000;
/* How often the worker looks whether a prepared transaction with queued keys has ended. */
constexpr long preparedPollMs = 100;

class Worker final : public listener::Handler, public key_queue::Reader {
public:
	Worker() : redis_([this] { drainNotifications(); }), writer_(redis_) {}
	[[noreturn]] void run();

private:
	/* listener::Handler: runs inside PostgreSQL's notify code, so it only records. */
	void onNotification(std::string_view channel, std::string_view payload) override;
	void onLostNotification() override { lostNotifications_ = true; }
	/* key_queue::Reader: the commit queue's entries. */
	void onEntry(key_queue::Kind kind, std::string_view payload) override;
	void onPreparedEntry(key_queue::Kind kind, std::string_view payload, TransactionId xid) override;
	bool full() const override { return sources_.pendingTotal() >= static_cast<size_t>(settings::maxPending); }
	void onControlMessage(std::string_view message);
	void acceptKeysPayload(std::string_view message, const char *from, bool queued);
	void acceptKey(Source &source, std::string_view key, bool queued = false);
	void askForResync(const std::string &source, TimestampTz covers);
	void deferLog(std::string line);

	void drainNotifications(bool force = false);
	void drainQueue();
	void queueOverflowed();
	void resolvePreparedTransactions();
	bool takeSyncRequest();
	bool caughtUpTo(TimestampTz t) const;
	void reportSync();
	void reloadSettings();
	void reloadSources();
	void applyResyncRequests();
	bool ensureRedis();
	void redisFailed(const RedisError &error);
	void settleWrites();
	void redisLostData(const std::string &why);
	void checkRedisMarker();
	void waitWhileStandby();
	long idleTimeoutMs(TimestampTz now) const;
	void runOnce();
	void waitOnLatch(long timeoutMs);

	RedisTarget redis_;
	redis_sink::DocumentWriter writer_;
	Backoff redisRetry_ = settings::retryBackoff();
	bool redisWasDown_ = false;
	bool resyncAfterConnect_ = false;
	AskedAt targetChangedAt_;
	RedisIdentity identity_;
	std::string connectedTo_; /* the nodes written to, as last logged */
	TimestampTz lastMarkerCheck_ = 0;

	SourceSet sources_;
	PrefixSweeper sweeper_;

	TimestampTz startedAt_ = GetCurrentTimestamp();

	/* Filled while draining; acted on by the loop. The *AskedAt_ say since when (wait_for_sync). */
	bool reloadRequested_ = true;
	AskedAt reloadAskedAt_;
	AskedAt resyncAskedAt_;
	bool lostNotifications_ = false;
	std::vector<std::string> resyncRequests_; /* source names; "" means all */
	/* Lines about bad notifications, logged once the drain is over (within log_budget). */
	std::vector<std::string> deferredLog_;
	TimestampTz drainTime_ = 0;

	/* The commit queue: read up to here (wait_for_sync); when the last full queue was said. */
	uint64 queueFrontier_ = 0;
	TimestampTz queueFullLoggedAt_ = 0;
	uint64 queueFullUnlogged_ = 0;
	PreparedTransactions prepared_;

	SyncTracker sync_;
};

void Worker::deferLog(std::string line)
{
	if (log_budget::allow(drainTime_))
		deferredLog_.push_back(std::move(line));
}

void Worker::onNotification(std::string_view channel, std::string_view message)
{
	if (channel == payload::controlChannel) {
		onControlMessage(message);
		return;
	}
	if (channel == payload::keysChannel) {
		acceptKeysPayload(message, "notification on channel \"cachepusher\"", false);
		return;
	}
	if (const std::vector<Source *> *listeners = sources_.onChannel(channel))
		for (Source *source : *listeners)
			acceptKey(*source, message);
}

void Worker::acceptKeysPayload(std::string_view message, const char *from, bool queued)
{
	payload::Keys parsed;
	if (!payload::parseKeys(message, parsed)) {
		deferLog(std::string(from) + " names no source: \"" + logExcerpt(message) + "\"");
		return;
	}
	Source *source = sources_.find(parsed.source);
	if (source == nullptr) {
		deferLog(std::string(from) + " for unknown source \"" + logExcerpt(parsed.source) + "\"");
		return;
	}
	for (const std::string &key : parsed.keys)
		acceptKey(*source, key, queued);
}

void Worker::askForResync(const std::string &source, TimestampTz covers)
{
	resyncRequests_.push_back(source);
	resyncAskedAt_.ask(covers);
}

void Worker::onEntry(key_queue::Kind kind, std::string_view payload)
{
	try {
		if (kind == key_queue::Kind::Keys)
			acceptKeysPayload(payload, "commit queue entry", true);
		else if (kind == key_queue::Kind::Resync)
			askForResync(std::string(payload), drainTime_);
	} catch (...) {
		lostNotifications_ = true; /* out of memory: a resync of every source stands in for it */
	}
}

void Worker::onPreparedEntry(key_queue::Kind kind, std::string_view payload, TransactionId xid)
{
	try {
		prepared_.add(xid, kind, payload);
	} catch (...) {
		lostNotifications_ = true;
	}
}

void Worker::onControlMessage(std::string_view message)
{
	if (message == "reload") {
		reloadRequested_ = true;
		reloadAskedAt_.ask(drainTime_);
	} else if (message == "resync") {
		askForResync("", drainTime_);
	} else if (message.substr(0, 7) == "resync\n") {
		askForResync(std::string(message.substr(7)), drainTime_);
	}
	else
		deferLog("unknown message on channel \"cachepusher_control\": \"" + logExcerpt(message) + "\"");
}

void Worker::acceptKey(Source &source, std::string_view key, bool queued)
{
	source.stats.keysReceived++;
	/* An empty key names no document; it is pending like any key so that the bare "prefix:" is deleted. */
	if (key.empty()) {
		source.stats.errors++;
		deferLog("source \"" + source.def.name + "\": an empty key names no document");
	}
	/* Keys covered by a resync that has not started reading yet, or of a source we cannot serve. */
	if (!source.def.problem.empty() || source.warmup.coversNewKeys())
		return;
	/*
	 * A key already waiting costs nothing more: only new keys can overflow the pending set. Keys from
	 * the commit queue do not: the queue is read only while there is room (an entry may go a little
	 * past it), and what does not fit waits there.
	 */
	if (!queued && full() && !source.pending.contains(key)) {
		if (!source.overflowed) {
			source.overflowedSince = drainTime_;
			deferLog("source \"" + source.def.name + "\": more than cachepusher.max_pending (" +
					 std::to_string(settings::maxPending) + ") keys waiting; falling back to a full resync");
		}
		source.overflowed = true;
		return;
	}
	source.pending.add(key, drainTime_); /* counted in the pending total by the set itself */
}

void Worker::drainNotifications(bool force)
{
	bool notified = force || listener::pending();
	bool queued = force || key_queue::hasNew() || key_queue::overflowed();
	if (!notified && !queued)
		return;
	drainTime_ = GetCurrentTimestamp();
	if (notified)
		listener::drain(*this, force);
	if (queued)
		drainQueue();
	for (const std::string &line : deferredLog_)
		ereport(LOG, (errmsg("cachepusher: %s", line.c_str())));
	deferredLog_.clear();
}

void Worker::drainQueue()
{
	queueFrontier_ = key_queue::drain(*this);
	if (key_queue::overflowed())
		queueOverflowed();
}

/* Commits found the queue full: their keys were not queued, so their sources are warmed again. */
void Worker::queueOverflowed()
{
	key_queue::Overflow overflow = key_queue::takeOverflow();
	if (overflow.dropped == 0)
		return;
	std::string names;
	for (const std::string &name : overflow.sources) {
		askForResync(name, drainTime_);
		names += (names.empty() ? "" : ", ") + (name.empty() ? std::string("every source") : "\"" + name + "\"");
		sources_.recordError(name, "the commit queue was full (cachepusher.queue_size); resyncing", drainTime_);
	}
	/* Said once a minute at most: a worker far behind would otherwise say it for every commit. */
	queueFullUnlogged_ += overflow.dropped;
	if (TimestampDifferenceExceeds(queueFullLoggedAt_, drainTime_, 60000)) {
		ereport(LOG, (errmsg("cachepusher: the commit queue was full: the keys of %llu transactions were not "
							 "queued; resyncing %s",
							 static_cast<unsigned long long>(queueFullUnlogged_), names.c_str()),
					  errdetail("Their commits succeeded; the resync writes what they changed."),
					  errhint("Raise cachepusher.queue_size (now %d kB) if the worker is often this far behind.",
							  settings::queueSizeKb)));
		queueFullLoggedAt_ = drainTime_;
		queueFullUnlogged_ = 0;
	}
}

/* COMMIT PREPARED sends no signal: the worker looks whether each prepared transaction has ended. */
void Worker::resolvePreparedTransactions()
{
	if (!prepared_.waiting())
		return;
	TimestampTz now = GetCurrentTimestamp();
	drainTime_ = now;
	prepared_.resolve([this](key_queue::Kind kind, std::string_view payload) { onEntry(kind, payload); },
					  [this, now] { askForResync("", now); });
}

bool Worker::takeSyncRequest()
{
	uint64 position;
	uint64 asked = shared_state::syncRequested(&position);
	if (!sync_.isNew(asked))
		return false;
	/* Read the queue to its end: every change committed before the request is now pending. */
	drainNotifications(true);
	resolvePreparedTransactions();
	/*
	 * Not all of the commit queue up to the request is read yet: the pending set is full, or a
	 * transaction is between its commit record and its commit callback. Taken once it is.
	 */
	if (queueFrontier_ < position)
		return true;
	/* Sources can change without a message (pg_restore, a manual INSERT): read them again too. */
	reloadRequested_ = true;
	/* And Redis may have been flushed since the last check: look now. */
	lastMarkerCheck_ = 0;
	reloadAskedAt_.ask(drainTime_);
	sync_.take(asked, GetCurrentTimestamp());
	return false;
}

bool Worker::caughtUpTo(TimestampTz t) const
{
	if (reloadRequested_ || !resyncRequests_.empty() || lostNotifications_ || resyncAfterConnect_)
		return false;
	/* Keys of sources dropped with delete_keys are part of the changes too. */
	if (!sweeper_.idle())
		return false;
	if (writer_.inFlight() && writer_.inFlightSince() <= t)
		return false;
	/* Disconnected, Redis may have lost everything (restarted): only a connection tells. */
	if (!sources_.empty() && !redis_.connected())
		return false;
	return sources_.caughtUpTo(t);
}

void Worker::reportSync()
{
	if (sync_.owed() && caughtUpTo(sync_.owedUpTo()))
		shared_state::syncReached(sync_.reached());
}

void Worker::reloadSettings()
{
	ConfigReloadPending = false;
	pg::call([] { ProcessConfigFile(PGC_SIGHUP); });
	/* A new target drops the connection: the batch in flight gets its replies first. */
	settleWrites();
	RedisAddress next = settings::redisAddress();
	if (!next.sameTarget(redis_.address())) {
		/* Another Redis (or database) may hold anything: write everything there. */
		ereport(LOG, (errmsg("cachepusher: Redis target changed to %s", describeTarget(next).c_str())));
		resyncAfterConnect_ = true;
		targetChangedAt_.ask(GetCurrentTimestamp());
		redisRetry_.reset();
	}
	redis_.configure(next);
}

void Worker::reloadSources()
{
	/* The batch in flight may belong to a source about to be dropped or redefined. */
	settleWrites();
	reloadRequested_ = false;
	if (!sources_.reload(reloadAskedAt_.take(), startedAt_))
		return;
	sweeper_.reload(sources_.extensionInstalled());
	sources_.listenToChannels();
}

void Worker::applyResyncRequests()
{
	if (lostNotifications_) {
		ereport(LOG, (errmsg("cachepusher: notifications were lost (out of memory); resyncing every source")));
		lostNotifications_ = false;
		askForResync("", startedAt_);
	}
	sources_.resolveOverflows();
	std::vector<std::string> requests;
	requests.swap(resyncRequests_);
	sources_.resync(requests, resyncAskedAt_.take());
}

bool Worker::ensureRedis()
{
	if (redis_.connected())
		return true;
	if (!redisRetry_.due(GetCurrentTimestamp()))
		return false;
	std::string lost;
	try {
		redis_.connect();
		lost = identity_.checkMasters(redis_);
	} catch (const RedisError &e) {
		redisFailed(e);
		return false;
	}
	connectedTo_ = redis_.describeNodes();
	ereport(LOG, (errmsg("cachepusher: connected to Redis at %s", connectedTo_.c_str())));
	redisRetry_.reset();
	redisWasDown_ = false;
	lastMarkerCheck_ = GetCurrentTimestamp();
	if (!lost.empty())
		redisLostData(lost);
	if (resyncAfterConnect_) {
		resyncAfterConnect_ = false;
		askForResync("", targetChangedAt_.take());
	}
	return true;
}

void Worker::redisLostData(const std::string &why)
{
	ereport(LOG, (errmsg("cachepusher: %s; resyncing every source", why.c_str())));
	resyncRequests_.emplace_back();
	/* Whatever was written since the worker started may be gone. */
	resyncAskedAt_.ask(startedAt_);
}

/* Reads the replies of the batch in flight, if any, now. */
void Worker::settleWrites()
{
	try {
		writer_.finish();
	} catch (const RedisError &e) {
		redisFailed(e);
	}
}

/*
 * Every second: is every marker still there (flushed), is the master still the one the Sentinel
 * names (else the target fails and is connected again)? And at once when the nodes written to changed
 * (a cluster's slot map read anew after MOVED): are they masters we wrote to before?
 */
void Worker::checkRedisMarker()
{
	if (!redis_.connected())
		return;
	std::string lost;
	TimestampTz now = GetCurrentTimestamp();
	if (!identity_.checked(redis_)) {
		/* Slots move often in a reshard: a line when the masters change, not for every slot. */
		std::string nodes = redis_.describeNodes();
		ereport(nodes == connectedTo_ ? DEBUG1 : LOG,
				(errmsg("cachepusher: the Redis Cluster's slot map changed; writing to %s", nodes.c_str())));
		connectedTo_ = nodes;
		lost = identity_.checkMasters(writer_.settled());
	}
	else if (TimestampDifferenceExceeds(lastMarkerCheck_, now, markerCheckMs)) {
		lastMarkerCheck_ = now;
		std::string unasked = writer_.settled().confirmMaster();
		if (!unasked.empty())
			ereport(LOG, (errmsg("cachepusher: could not ask the Sentinel whether the master is still %s: %s",
								 redis_.describeNodes().c_str(), unasked.c_str()),
						  errdetail("Writes go on to that master; a failover is noticed once the Sentinel "
									"answers again or the master fails.")));
		lost = identity_.checkMarkers(writer_.settled());
	}
	if (!lost.empty())
		redisLostData(lost);
}

void Worker::redisFailed(const RedisError &error)
{
	writer_.abandon();
	redis_.disconnect();
	TimestampTz now = GetCurrentTimestamp();
	long delay = redisRetry_.failed(now);
	/* One line when the outage starts, then one per retry at most at the capped interval. */
	if (!redisWasDown_ || delay >= settings::retryMaxIntervalMs)
		ereport(LOG, (errmsg("cachepusher: %s", error.what()),
					  errdetail("Changes are kept and written once Redis is back; next attempt in %ld ms.", delay)));
	/* status says why (a wrong password, say), counted once per outage. */
	if (!redisWasDown_)
		sources_.recordError("", error.what(), now);
	redisWasDown_ = true;
}

long Worker::idleTimeoutMs(TimestampTz now) const
{
	TimestampTz wake = TimestampTzPlusMilliseconds(sources_.lastLoad(), catalogRefreshMs);
	if (!redis_.connected() && !sources_.empty())
		wake = std::min(wake, redisRetry_.nextAttempt());
	if (redis_.connected())
		wake = std::min(wake, TimestampTzPlusMilliseconds(lastMarkerCheck_, markerCheckMs));
	wake = sources_.wakeAt(wake);
	if (!sweeper_.idle())
		wake = std::min(wake, sweeper_.nextAttempt());
	if (TimestampTz report = log_budget::reportDueAt(); report != 0)
		wake = std::min(wake, report);
	/* COMMIT PREPARED sets no latch: look for it this often. */
	if (prepared_.waiting())
		wake = std::min(wake, TimestampTzPlusMilliseconds(now, preparedPollMs));
	return std::max<long>(1, TimestampDifferenceMilliseconds(now, wake));
}

/*
 * A hot standby receives no notifications (NOTIFY does not work in recovery) and must not write to
 * Redis: it would fight the primary's worker with older data. Until promoted, the worker only shows
 * its sources as "standby"; once promoted it starts like a new worker, warming every source, so a
 * promoted server never serves what an old primary left in Redis.
 */
void Worker::waitWhileStandby()
{
	if (!RecoveryInProgress())
		return;
	ereport(LOG, (errmsg("cachepusher: the server is a standby; waiting for its promotion")));
	TimestampTz lastLoad = 0;
	while (RecoveryInProgress()) {
		pg::checkInterrupts();
		if (ConfigReloadPending) {
			ConfigReloadPending = false;
			pg::call([] { ProcessConfigFile(PGC_SIGHUP); });
		}
		TimestampTz now = GetCurrentTimestamp();
		if (TimestampDifferenceExceeds(lastLoad, now, catalogRefreshMs)) {
			lastLoad = now;
			std::vector<SourceStats> stats;
			try {
				if (auto definitions = source_catalog::load())
					for (const SourceDefinition &def : *definitions) {
						SourceStats s{};
						strlcpy(s.name, def.name.c_str(), sizeof(s.name));
						s.state = SourceState::Standby;
						s.warmupTotal = -1;
						stats.push_back(s);
					}
			} catch (const pg::PgError &) {
				pg::abortTransaction(); /* shown as no sources; tried again at the next load */
			}
			shared_state::publish(stats.data(), stats.size());
		}
		waitOnLatch(standbyPollMs);
	}
	ereport(LOG, (errmsg("cachepusher: the server was promoted; starting and warming every source")));
	startedAt_ = GetCurrentTimestamp();
}

void Worker::run()
{
	key_queue::attachReader(MyLatch);
	waitWhileStandby();
	prepared_.findAtStart();
	sources_.listenToOwnChannels();
	redis_.configure(settings::redisAddress());

	for (;;) {
		try {
			runOnce();
		} catch (const pg::PgError &e) {
			/* Not a source's fault (those are handled where they happen): a cancel, a failed LISTEN. */
			pg::abortTransaction();
			ereport(LOG, (errmsg("cachepusher: %s", e.what()),
						  errdetail("The worker carries on after %d ms.", settings::retryIntervalMs)));
			waitOnLatch(settings::retryIntervalMs);
		}
	}
}

void Worker::runOnce()
{
	pg::checkInterrupts();
	if (ConfigReloadPending)
		reloadSettings();
	drainNotifications();
	resolvePreparedTransactions();
	bool syncBlocked = takeSyncRequest();
	TimestampTz now = GetCurrentTimestamp();
	if (reloadRequested_ || TimestampDifferenceExceeds(sources_.lastLoad(), now, catalogRefreshMs))
		reloadSources();
	applyResyncRequests();
	sources_.retryFailingKeys();

	bool worked = false;
	if ((!sources_.empty() || !sweeper_.idle()) && ensureRedis()) {
		try {
			worked |= sources_.pushOneBatch(writer_);
			worked |= sources_.warmupStep(writer_);
			worked |= sweeper_.step(writer_, sources_);
			checkRedisMarker();
			/* Nothing left to overlap the batch in flight with: read its replies now. */
			if (!worked)
				writer_.finish();
		} catch (const RedisError &e) {
			redisFailed(e);
		}
	}
	/* Published first: whoever wait_for_sync() wakes reads the state that made it true. */
	sources_.publish(writer_, redis_.connected());
	reportSync();
	log_budget::reportNotLogged(GetCurrentTimestamp());

	/* Anything that waited on the latch (even a document function) may have eaten our wake-up. */
	bool queueWaiting = (key_queue::hasNew() && !full()) || key_queue::overflowed();
	if (!worked && !listener::pending() && !queueWaiting && !ConfigReloadPending && !reloadRequested_ &&
		resyncRequests_.empty() && (syncBlocked || shared_state::syncRequested() == sync_.taken()))
		waitOnLatch(idleTimeoutMs(GetCurrentTimestamp()));
}

void Worker::waitOnLatch(long timeoutMs)
{
	pg::call([timeoutMs] {
		WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeoutMs, PG_WAIT_EXTENSION);
	});
	ResetLatch(MyLatch);
}

void clearWorkerPid(int, Datum)
{
	shared_state::setWorkerPid(0);
}

} // namespace
} // namespace cachepusher

void cachepusher_worker_main(Datum)
{
	using namespace cachepusher;
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	const char *role = settings::role && settings::role[0] ? settings::role : NULL;
	BackgroundWorkerInitializeConnection(settings::database, role, 0);
	pgstat_report_appname("cachepusher");
	shared_state::setWorkerPid(MyProcPid);
	on_shmem_exit(clearWorkerPid, 0);
	ereport(LOG, (errmsg("cachepusher: worker started in database \"%s\"", settings::database)));

	/* Nothing may unwind out of here: the loop only ends through proc_exit (SIGTERM, postmaster death). */
	static Worker *worker = nullptr;
	std::exception_ptr error;
	try {
		worker = new Worker();
		worker->run();
	} catch (...) {
		error = std::current_exception();
	}
	try {
		std::rethrow_exception(error);
	} catch (const std::exception &e) {
		ereport(LOG, (errmsg("cachepusher: worker stopped by an unexpected error: %s", e.what())));
	} catch (...) {
		ereport(LOG, (errmsg("cachepusher: worker stopped by an unexpected error")));
	}
	proc_exit(1);
}

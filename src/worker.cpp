/*
 * The background worker's loop, which ties the data flow of docs/design.md §2 together:
 *   drain the commit queue and notifications -> pending keys per source -> fetch documents (SPI)
 *   -> write to Redis
 * with warmups interleaved chunk by chunk, and every wait on the latch so SIGTERM, SIGHUP and new
 * notifications are heard at once. What it works with are components it owns (docs/design.md §5):
 * the source set, the intake, the Redis session, the prefix sweeper and wait_for_sync's tracker.
 */
#include "intake.hpp"
#include "key_queue.hpp"
#include "listener.hpp"
#include "log_budget.hpp"
#include "pg_boundary.hpp"
#include "prefix_sweeper.hpp"
#include "redis_health.hpp"
#include "settings.hpp"
#include "shared_state.hpp"
#include "source_catalog.hpp"
#include "source_set.hpp"
#include "subscribed_tables.hpp"
#include "sync_tracker.hpp"
#include "transaction.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

extern "C" {
#include "mb/pg_wchar.h"
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

/* Also re-read the catalog this often, for changes that sent no message (pg_restore, DROP EXTENSION). */
constexpr long catalogRefreshMs = 10000;
/* How often a worker on a standby checks whether the server was promoted. */
constexpr long standbyPollMs = 500;
/* How often the worker looks whether a prepared transaction with queued keys has ended. */
constexpr long preparedPollMs = 100;

class Worker final {
public:
	Worker() : intake_(sources_), health_(intake_, sources_) {}
	[[noreturn]] void run();

private:
	bool takeSyncRequest();
	bool caughtUpTo(TimestampTz t) const;
	void reportSync();
	void reloadSettings();
	void reloadSources();
	void loadSourcesFirst();
	static long firstRetryMs();
	void waitOut(long timeoutMs);
	void applyResyncRequests();
	void waitWhileStandby();
	long idleTimeoutMs(TimestampTz now) const;
	void runOnce();
	void waitOnLatch(long timeoutMs);
	/* A wait that no latch cuts short: SIGTERM and SIGHUP are heard when it ends (it is short). */
	static void sleepFor(long timeoutMs);

	/* In this order: each is given the ones before it (intake.hpp says why Redis waits may drain). */
	SourceSet sources_;
	Intake intake_;
	RedisHealth health_;
	PrefixSweeper sweeper_;
	SyncTracker sync_;
};

/* SIGHUP: the settings file read again; shared by the loop and the standby wait. */
void readConfigFile()
{
	ConfigReloadPending = false;
	pg::call([] { ProcessConfigFile(PGC_SIGHUP); });
}

bool Worker::takeSyncRequest()
{
	uint64 position;
	uint64 asked = shared_state::syncRequested(&position);
	if (!sync_.isNew(asked))
		return false;
	/* Read the queue to its end: every change committed before the request is now pending. */
	intake_.drain(true);
	intake_.resolvePrepared();
	/*
	 * Not all of the commit queue up to the request is read yet: the pending set is full, or a
	 * transaction is between its commit record and its commit callback. Taken once it is.
	 */
	if (intake_.queueFrontier() < position)
		return true;
	/* Sources can change without a message (pg_restore, a manual INSERT): read them again too. */
	intake_.askReload(intake_.drainTime());
	/* And Redis may have been flushed since the last check: look now. */
	health_.checkSoon();
	sync_.take(asked, GetCurrentTimestamp());
	return false;
}

/* Each component says whether what it holds of the changes before t is in Redis. */
bool Worker::caughtUpTo(TimestampTz t) const
{
	/* Keys of sources dropped with delete_keys are part of the changes too. */
	return intake_.caughtUp() && health_.caughtUpTo(t, !sources_.empty()) && sweeper_.idle() && sources_.caughtUpTo(t);
}

void Worker::reportSync()
{
	if (sync_.owed() && caughtUpTo(sync_.owedUpTo()))
		shared_state::syncReached(sync_.reached());
}

void Worker::reloadSettings()
{
	readConfigFile();
	health_.reconfigure(settings::redisAddress());
}

void Worker::reloadSources()
{
	/* The batch in flight may belong to a source about to be dropped or redefined. */
	health_.settleWrites();
	if (!sources_.reload(intake_.takeReload(), intake_.startedAt()))
		return;
	sweeper_.reload(sources_.extensionInstalled());
	sources_.listenToChannels();
	if (sources_.extensionInstalled())
		for (const std::string &source : subscribed_tables::switchToRowTriggers(sources_))
			intake_.askForResync(source, GetCurrentTimestamp());
}

void Worker::applyResyncRequests()
{
	if (intake_.takeLostNotifications()) {
		ereport(LOG, (errmsg("cachepusher: notifications were lost (out of memory); resyncing every source")));
		intake_.askForResyncSinceStart();
	}
	sources_.resolveOverflows();
	std::vector<std::string> names;
	TimestampTz covers = intake_.takeResyncRequests(names);
	sources_.resync(names, covers);
}

long Worker::idleTimeoutMs(TimestampTz now) const
{
	TimestampTz wake = TimestampTzPlusMilliseconds(sources_.lastLoad(), catalogRefreshMs);
	wake = health_.wakeAt(wake, !sources_.empty() || !sweeper_.idle());
	/* What the sources and the sweeper wait for needs Redis: while it is down, its reconnect is the wake-up. */
	if (health_.connected()) {
		wake = sources_.wakeAt(wake);
		if (!sweeper_.idle())
			wake = std::min(wake, sweeper_.nextAttempt());
	}
	if (TimestampTz report = log_budget::reportDueAt(); report != 0)
		wake = std::min(wake, report);
	/* COMMIT PREPARED sets no latch: look for it this often. */
	if (intake_.preparedWaiting())
		wake = std::min(wake, TimestampTzPlusMilliseconds(now, preparedPollMs));
	return std::max<long>(1, TimestampDifferenceMilliseconds(now, wake));
}

/* On a standby, status shows the catalog's sources in state standby. */
void publishStandbySources()
{
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
		try {
			/* A cancel heard here is no reason to exit, as in the loop (run). */
			pg::checkInterrupts();
			if (ConfigReloadPending)
				readConfigFile();
			TimestampTz now = GetCurrentTimestamp();
			if (TimestampDifferenceExceeds(lastLoad, now, catalogRefreshMs)) {
				lastLoad = now;
				publishStandbySources();
			}
		} catch (const pg::PgError &e) {
			pg::abortTransaction();
			ereport(LOG, (errmsg("cachepusher: %s", e.what())));
		}
		waitOnLatch(standbyPollMs);
	}
	ereport(LOG, (errmsg("cachepusher: the server was promoted; starting and warming every source")));
	intake_.restarted(GetCurrentTimestamp());
	/* What the old primary's worker left in Redis may be older than this server's data. */
	sources_.warmAtFirstLoad();
}

/*
 * The catalog before the first drain: entries the commit queue kept across a worker restart name
 * their sources, and a source not known yet would drop them.
 */
void Worker::loadSourcesFirst()
{
	while (!sources_.loaded()) {
		try {
			/* A cancel heard here is no reason to exit, as in the loop (run). */
			pg::checkInterrupts();
			if (ConfigReloadPending)
				reloadSettings();
			reloadSources();
			if (!sources_.loaded())
				waitOut(firstRetryMs());
		} catch (const pg::PgError &e) {
			pg::abortTransaction();
			ereport(LOG, (errmsg("cachepusher: %s", e.what()),
						  errdetail("The worker reads its sources again after %ld ms.", firstRetryMs())));
			waitOnLatch(firstRetryMs());
		}
	}
}

/* retry_interval, cut to retry_max_interval as the back-off cuts it. */
long Worker::firstRetryMs()
{
	return std::min(settings::retryIntervalMs, settings::retryMaxIntervalMs);
}

/*
 * Waits timeoutMs on the latch, however often it is set meanwhile (every commit into the queue sets
 * it): for a retry that must not come sooner. SIGTERM still ends the wait (checkInterrupts).
 */
void Worker::waitOut(long timeoutMs)
{
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeoutMs);
	for (long left = timeoutMs; left > 0; left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until)) {
		waitOnLatch(left);
		pg::checkInterrupts();
	}
}

void Worker::run()
{
	key_queue::attachReader(MyLatch);
	waitWhileStandby();
	intake_.findPrepared();
	/*
	 * No LISTEN yet: the first catalog load LISTENs to the worker's channels and the sources'. Until
	 * then nothing reads notifications, and a listener that does not read holds PostgreSQL's
	 * notification queue for every database (while a first load keeps failing, for good).
	 */
	health_.configure(settings::redisAddress());
	loadSourcesFirst();

	bool retryWait = false;
	for (;;) {
		try {
			/*
			 * After an error, not cut short by commits: what failed (a LISTEN) is tried again at the
			 * next pass. Inside the try: a cancel heard while waiting is one more error, not the end.
			 */
			if (std::exchange(retryWait, false))
				waitOut(firstRetryMs());
			runOnce();
		} catch (const pg::PgError &e) {
			/* Not a source's fault (those are handled where they happen): a cancel, a failed LISTEN. */
			pg::abortTransaction();
			ereport(LOG, (errmsg("cachepusher: %s", e.what()),
						  errdetail("The worker carries on after %ld ms.", firstRetryMs())));
			retryWait = true;
		}
	}
}

void Worker::runOnce()
{
	pg::checkInterrupts();
	if (ConfigReloadPending)
		reloadSettings();
	intake_.drain();
	if (intake_.full())
		sources_.releaseKeysOfFailedSources(GetCurrentTimestamp());
	intake_.resolvePrepared();
	bool syncBlocked = takeSyncRequest();
	TimestampTz now = GetCurrentTimestamp();
	if (intake_.reloadRequested() || TimestampDifferenceExceeds(sources_.lastLoad(), now, catalogRefreshMs))
		reloadSources();
	else if (!sources_.listeningAsWanted())
		sources_.listenToChannels();
	applyResyncRequests();
	sources_.retryFailingKeys();

	bool worked = false;
	if ((!sources_.empty() || !sweeper_.idle()) && health_.ensure()) {
		/*
		 * A connect that found Redis restarted, or another target, asks for a resync of everything:
		 * taken now, so that warmups asked for meanwhile (a source added while Redis was away) become
		 * that one, rather than start reading and be owed another after it.
		 */
		if (intake_.resyncRequested())
			applyResyncRequests();
		redis_sink::DocumentWriter &writer = health_.writer();
		try {
			worked |= sources_.pushOneBatch(writer);
			worked |= sources_.warmupStep(writer);
			worked |= sweeper_.step(writer, sources_);
			health_.check();
			/* Nothing left to overlap the batch in flight with: read its replies now. */
			if (!worked)
				writer.finish();
		} catch (const RedisError &e) {
			health_.failed(e);
		}
	}
	/* Published first: whoever wait_for_sync() wakes reads the state that made it true. */
	sources_.publish(health_.writer(), health_.connected());
	reportSync();
	log_budget::reportNotLogged(GetCurrentTimestamp());

	if (worked || ConfigReloadPending || intake_.reloadRequested() || intake_.resyncRequested() ||
		key_queue::overflowed() || (!syncBlocked && shared_state::syncRequested() != sync_.taken()))
		return;
	now = GetCurrentTimestamp();
	/* Without Redis no batch is built however due: that wait is the reconnect's, on the latch below. */
	if (TimestampTz due = sources_.batchesDueAt(now); due != 0 && health_.connected()) {
		/*
		 * Keys wait for more to join their batch. New ones need no wake-up meanwhile: they join at
		 * the next drain, and a commit that sets the latch then finds no one asleep on it to signal.
		 */
		sleepFor(std::min(idleTimeoutMs(now), TimestampDifferenceMilliseconds(now, due)));
		return;
	}
	/* Anything that waited on the latch (even a document function) may have eaten our wake-up. */
	if (!listener::pending() && !(key_queue::hasNew() && !intake_.full()))
		waitOnLatch(idleTimeoutMs(now));
}

void Worker::sleepFor(long timeoutMs)
{
	pg::call([timeoutMs] { WaitLatch(nullptr, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeoutMs, PG_WAIT_EXTENSION); });
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

void connectingContext(void *)
{
	if (settings::role && settings::role[0])
		errcontext("cachepusher's worker connecting to database \"%s\" (cachepusher.database) as role \"%s\" "
				   "(cachepusher.role)",
				   settings::database, settings::role);
	else
		errcontext("cachepusher's worker connecting to database \"%s\" (cachepusher.database)", settings::database);
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
	/* A database or role that does not exist is PostgreSQL's FATAL: this says which setting named it. */
	ErrorContextCallback connecting;
	connecting.callback = connectingContext;
	connecting.arg = nullptr;
	connecting.previous = error_context_stack;
	error_context_stack = &connecting;
	BackgroundWorkerInitializeConnection(settings::database, role, 0);
	error_context_stack = connecting.previous;
	/*
	 * Notifications reach the worker through the client protocol's code, which converts channel and
	 * payload to client_encoding: one set for the database or role (a LATIN1 database read as UTF8)
	 * would garble keys, or fail on a character it cannot hold, and PostgreSQL reads the queue with
	 * any error fatal. Keys stay as the database holds them.
	 */
	SetConfigOption("client_encoding", GetDatabaseEncodingName(), PGC_SUSET, PGC_S_OVERRIDE);
	/*
	 * Keys are printed in the worker's session (document_fetcher.cpp): floats must print exactly, or
	 * two keys that differ past the 15th digit would print as one and a document be written under
	 * the other's key. 1 is the default; 0 or less (set for the database or role) rounds.
	 */
	SetConfigOption("extra_float_digits", "1", PGC_SUSET, PGC_S_OVERRIDE);
	pgstat_report_appname("cachepusher");
	shared_state::setWorkerPid(MyProcPid);
	on_shmem_exit(clearWorkerPid, 0);
	ereport(LOG, (errmsg("cachepusher: worker started in database \"%s\"", settings::database)));

	/*
	 * Nothing may unwind out of here: the loop only ends through proc_exit (SIGTERM, postmaster death).
	 * An error that escapes it is copied into plain memory in the catch block, where the exception
	 * dies, and logged after it; the postmaster then starts the worker again.
	 */
	static Worker *worker = nullptr;
	pg::detail::CaughtError error;
	try {
		worker = new Worker();
		worker->run();
	} catch (...) {
		pg::detail::capture(error);
	}
	ereport(LOG, (errmsg("cachepusher: worker stopped by an unexpected error: %s", pg::detail::describe(error))));
	proc_exit(1);
}

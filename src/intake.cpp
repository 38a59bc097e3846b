#include "intake.hpp"

#include <algorithm>

#include "composite_key.hpp"
#include "log_budget.hpp"
#include "log_text.hpp"
#include "notification_payload.hpp"
#include "settings.hpp"
#include "source_set.hpp"

extern "C" {
#include "access/transam.h"
#include "utils/timestamp.h"
}

namespace cachepusher {

namespace payload = notification_payload;

Intake::Intake(SourceSet &sources) : sources_(sources), startedAt_(GetCurrentTimestamp()) {}

void Intake::deferLog(std::string line)
{
	if (log_budget::allow(drainTime_))
		deferredLog_.push_back(std::move(line));
}

bool Intake::full() const
{
	return sources_.pendingTotal() >= static_cast<size_t>(settings::maxPending);
}

void Intake::onNotification(std::string_view channel, std::string_view message)
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
		for (Source *source : *listeners) {
			if (message.empty())
				ignoreEmptyKey(*source, channel);
			else
				acceptKey(*source, message);
		}
}

/*
 * A trigger's pg_notify(channel, NULL or '') names no document: a row that belongs to none (the
 * 2015 seed's address trigger sends the customer id of an address that has no customer). Not an
 * error: counted in keys_ignored, and said once per source every ten minutes, naming the channel.
 */
void Intake::ignoreEmptyKey(Source &source, std::string_view channel)
{
	source.emptyKeyIgnored();
	if (!source.emptyKeyLine.due(drainTime_))
		return;
	deferLog("source \"" + source.def.name + "\": ignored an empty notification on channel \"" + logExcerpt(channel) +
			 "\": the trigger that sent it gave NULL or '' as the key, which names no document (a row that "
			 "belongs to none); such notifications are counted in status.keys_ignored and said at most every "
			 "10 minutes");
}

void Intake::acceptKeysPayload(std::string_view message, const char *from, bool queued)
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

void Intake::askReload(TimestampTz at)
{
	reloadRequested_ = true;
	reloadAskedAt_.ask(at);
}

TimestampTz Intake::takeReload()
{
	reloadRequested_ = false;
	return reloadAskedAt_.take();
}

void Intake::askForResync(const std::string &source, TimestampTz covers)
{
	resyncAskedAt_.ask(covers);
	/* Any role may send them (NOTIFY): one request per source is enough, and "" stands for all. */
	if (std::find(resyncRequests_.begin(), resyncRequests_.end(), source) != resyncRequests_.end() ||
		std::find(resyncRequests_.begin(), resyncRequests_.end(), "") != resyncRequests_.end())
		return;
	if (source.empty() || resyncRequests_.size() >= static_cast<size_t>(settings::maxSources))
		resyncRequests_ = {""};
	else
		resyncRequests_.push_back(source);
}

TimestampTz Intake::takeResyncRequests(std::vector<std::string> &names)
{
	names.clear();
	names.swap(resyncRequests_);
	return resyncAskedAt_.take();
}

bool Intake::takeLostNotifications()
{
	bool lost = lostNotifications_;
	lostNotifications_ = false;
	return lost;
}

void Intake::onEntry(key_queue::Kind kind, std::string_view payload)
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

void Intake::onPreparedEntry(key_queue::Kind kind, std::string_view payload, TransactionId xid)
{
	try {
		prepared_.add(xid, kind, payload);
	} catch (...) {
		lostNotifications_ = true;
	}
}

void Intake::onControlMessage(std::string_view message)
{
	if (message == "reload") {
		askReload(drainTime_);
	} else if (message == "resync") {
		askForResync("", drainTime_);
	} else if (message.substr(0, 7) == "resync\n") {
		askForResync(std::string(message.substr(7)), drainTime_);
	} else
		deferLog("unknown message on channel \"cachepusher_control\": \"" + logExcerpt(message) + "\"");
}

void Intake::acceptKey(Source &source, std::string_view key, bool queued)
{
	source.keyReceived();
	/* What no trigger of a key of several columns sends (a NOTIFY of one's own: cachepusher.key()). */
	if (!composite_key::isKey(key, source.def.keyColumns())) {
		source.badKeyCounted();
		deferLog("source \"" + source.def.name + "\": \"" + logExcerpt(key) + "\" is not a key of " +
				 std::to_string(source.def.keyColumns()) + " columns (build it with cachepusher.key())");
		return;
	}
	/* An empty key names no document; it is pending like any key so that the bare "prefix:" is deleted. */
	if (key.empty()) {
		source.badKeyCounted();
		deferLog("source \"" + source.def.name + "\": an empty key names no document");
	}
	/* Keys covered by a warmup that has not started reading yet, or of a source we cannot serve. */
	if (!source.def.problem.empty() || source.warmupCoversNewKeys())
		return;
	/*
	 * A key already waiting costs nothing more: only new keys can overflow the pending set. Keys from
	 * the commit queue do not: the queue is read only while there is room (an entry may go a little
	 * past it), and what does not fit waits there.
	 */
	if (!queued && full() && !source.pending.contains(key)) {
		/* Once per episode: until the warmup it asks for opens its cursor, that warmup covers new keys. */
		source.markOverflowed(drainTime_);
		deferLog("source \"" + source.def.name + "\": more than cachepusher.max_pending (" +
				 std::to_string(settings::maxPending) + ") keys waiting; falling back to a full resync");
		return;
	}
	source.pending.add(key, drainTime_); /* counted in the pending total by the set itself */
}

void Intake::drain(bool force)
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

void Intake::drainQueue()
{
	queueFrontier_ = key_queue::drain(*this);
	if (key_queue::overflowed())
		queueOverflowed();
}

/* Commits found the queue full: their keys were not queued, so their sources are warmed again. */
void Intake::queueOverflowed()
{
	key_queue::Overflow overflow = key_queue::takeOverflow();
	if (overflow.dropped == 0)
		return;
	std::string names;
	for (const std::string &name : overflow.sources) {
		/* As a max_pending overflow: a warmup reading now goes on, and another one is owed after it. */
		sources_.markOverflowed(name, drainTime_, "the commit queue was full (cachepusher.queue_size); resyncing");
		names += (names.empty() ? "" : ", ") + (name.empty() ? std::string("every source") : "\"" + name + "\"");
	}
	/* Said once a minute at most: a worker far behind would otherwise say it for every commit. */
	queueFullUnlogged_ += overflow.dropped;
	if (queueFullLine_.due(drainTime_)) {
		/* A commit that stays between its commit record and its callback keeps the space after its entry. */
		std::string held;
		if (TransactionId holding = key_queue::oldestTentative(); TransactionIdIsValid(holding))
			held = " Transaction " + std::to_string(holding) +
				   " has not finished committing (it may wait for synchronous replication); the queue's space "
				   "from its keys on is freed when it has.";
		ereport(LOG, (errmsg("cachepusher: the commit queue was full: the keys of %llu transactions were not "
							 "queued; resyncing %s",
							 static_cast<unsigned long long>(queueFullUnlogged_), names.c_str()),
					  errdetail("Their commits succeeded; the resync writes what they changed.%s", held.c_str()),
					  errhint("Raise cachepusher.queue_size (now %d kB) if the worker is often this far behind.",
							  settings::queueSizeKb)));
		queueFullUnlogged_ = 0;
	}
}

/* COMMIT PREPARED sends no signal: the worker looks whether each prepared transaction has ended. */
void Intake::resolvePrepared()
{
	if (!prepared_.waiting())
		return;
	TimestampTz now = GetCurrentTimestamp();
	drainTime_ = now;
	prepared_.resolve([this](key_queue::Kind kind, std::string_view payload) { onEntry(kind, payload); },
					  [this, now] { askForResync("", now); });
}

} // namespace cachepusher

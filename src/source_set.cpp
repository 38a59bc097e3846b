#include "source_set.hpp"

#include "document_fetcher.hpp"
#include "listener.hpp"
#include "log_budget.hpp"
#include "log_text.hpp"
#include "notification_payload.hpp"
#include "pg_boundary.hpp"
#include "settings.hpp"
#include "shared_state.hpp"
#include "source_catalog.hpp"
#include "transaction.hpp"
#include "warmup.hpp"

#include <algorithm>
#include <cstring>

extern "C" {
#include "utils/timestamp.h"
}

namespace cachepusher {

namespace payload = notification_payload;

namespace {
/*
 * Closes a source's warmup cursor and frees its plan, for a source dropped or redefined. Never throws:
 * a reload that stopped half-way would leave sources moved out of the set (the cursor goes with its
 * transaction or the worker).
 */
void letGo(Source &source)
{
	try {
		warmup::cancel(source);
	} catch (const pg::PgError &e) {
		ereport(LOG, (errmsg("cachepusher: source \"%s\": could not close its warmup: %s", source.def.name.c_str(),
							 e.what())));
	}
	forgetDocumentsPlan(source);
}
} // namespace

bool SourceSet::reload(TimestampTz askedAt, TimestampTz startedAt)
{
	lastLoad_ = GetCurrentTimestamp();
	/* What the warmups of new or changed sources stand in for: at the first load, everything. */
	TimestampTz covers = firstLoad_ ? startedAt : (askedAt ? askedAt : lastLoad_);
	/* A read that failed stood in for changes since then too: the next one that works does. */
	if (failedLoadCovers_ != 0)
		covers = std::min(covers, failedLoadCovers_);
	std::optional<std::vector<SourceDefinition>> definitions;
	try {
		definitions = source_catalog::load();
	} catch (const pg::PgError &e) {
		ereport(LOG, (errmsg("cachepusher: could not read the sources: %s", e.what())));
		catalogFailed_ = true;
		shared_state::setCatalogError(e.what());
		failedLoadCovers_ = covers;
		return false;
	}
	catalogFailed_ = false;
	failedLoadCovers_ = 0;
	shared_state::setCatalogError("");
	bool installed = definitions.has_value();
	if (installed != extensionInstalled_)
		ereport(
			LOG,
			(errmsg(installed ? "cachepusher: extension found in database \"%s\""
							  : "cachepusher: extension not installed in database \"%s\"; waiting for CREATE EXTENSION",
					settings::database)));
	extensionInstalled_ = installed;
	if (!installed)
		definitions.emplace();

	std::vector<std::unique_ptr<Source>> next;
	for (SourceDefinition &def : *definitions) {
		auto found = std::find_if(sources_.begin(), sources_.end(),
								  [&](const std::unique_ptr<Source> &s) { return s && s->def.name == def.name; });
		std::unique_ptr<Source> source;
		if (found != sources_.end()) {
			source = std::move(*found);
			if (source->def.sameAs(def)) {
				next.push_back(std::move(source));
				continue;
			}
			letGo(*source);
		} else {
			source = std::make_unique<Source>(pendingTotal_);
			source->startStats(def.name, lastLoad_);
		}
		source->def = std::move(def);
		source->clearFailed();
		if (!source->def.problem.empty()) {
			ereport(LOG, (errmsg("cachepusher: source \"%s\" cannot be served: %s", source->def.name.c_str(),
								 source->def.problem.c_str())));
			source->recordError(source->def.problem, lastLoad_);
			source->pending.clear();
		} else {
			ereport(LOG, (errmsg("cachepusher: serving source \"%s\" as %s:*", source->def.name.c_str(),
								 source->def.prefix.c_str())));
			if (!firstLoad_ || settings::warmupOnStart || warmAtFirstLoad_)
				warmup::request(*source, covers);
		}
		next.push_back(std::move(source));
	}
	for (auto &gone : sources_) {
		if (!gone)
			continue;
		ereport(LOG, (errmsg("cachepusher: source \"%s\" dropped", gone->def.name.c_str())));
		letGo(*gone);
	}
	sources_ = std::move(next); /* the dropped ones' pending keys leave the total with them */
	firstLoad_ = false;

	byName_.clear();
	byChannel_.clear();
	wanted_ = {payload::controlChannel, payload::keysChannel};
	for (auto &source : sources_) {
		byName_[source->def.name] = source.get();
		for (const std::string &channel : source->def.channels) {
			byChannel_[channel].push_back(source.get());
			wanted_.insert(channel);
		}
	}
	return true;
}

/* Channel by channel: when one fails, what was done stays done and the loop tries the rest again. */
void SourceSet::listenToChannels()
{
	for (auto it = listening_.begin(); it != listening_.end();) {
		if (wanted_.count(*it)) {
			++it;
			continue;
		}
		listener::unlisten(it->c_str());
		it = listening_.erase(it);
	}
	for (const std::string &channel : wanted_)
		if (!listening_.count(channel)) {
			listener::listen(channel.c_str());
			listening_.insert(channel);
		}
}

Source *SourceSet::find(std::string_view name) const
{
	auto it = byName_.find(std::string(name));
	return it == byName_.end() ? nullptr : it->second;
}

const std::vector<Source *> *SourceSet::onChannel(std::string_view channel) const
{
	auto it = byChannel_.find(std::string(channel));
	return it == byChannel_.end() ? nullptr : &it->second;
}

bool SourceSet::servesPrefix(const std::string &prefix) const
{
	for (auto &source : sources_)
		if (source->def.prefix == prefix)
			return true;
	return false;
}

void SourceSet::recordError(const std::string &name, const std::string &message, TimestampTz now)
{
	for (auto &source : sources_)
		if (name.empty() || source->def.name == name)
			source->recordError(message, now);
}

void SourceSet::replaceError(const std::string &was, const std::string &message, TimestampTz now)
{
	for (auto &source : sources_)
		source->replaceError(was, message, now);
}

void SourceSet::markOverflowed(const std::string &name, TimestampTz since, const std::string &message)
{
	for (auto &source : sources_) {
		if ((!name.empty() && source->def.name != name) || source->warmupCoversNewKeys())
			continue;
		source->markOverflowed(since);
		source->recordError(message, since);
	}
}

void SourceSet::releaseKeysOfFailedSources(TimestampTz now)
{
	for (auto &source : sources_) {
		if (source->fetchRetry.failures() == 0 || source->pending.empty() || source->overflowed())
			continue;
		std::string message = "its documents cannot be built, and with cachepusher.max_pending (" +
							  std::to_string(settings::maxPending) + ") keys waiting its " +
							  std::to_string(source->pending.size()) +
							  " keys held back every other source's: they are dropped; a resync follows";
		ereport(LOG, (errmsg("cachepusher: source \"%s\": %s", source->def.name.c_str(), message.c_str()),
					  errdetail("Its last error: %s", source->stats().lastError)));
		source->recordError(message, now);
		source->markOverflowed(source->pending.oldestSince());
	}
}

void SourceSet::resolveOverflows()
{
	for (auto &source : sources_) {
		if (!source->overflowed())
			continue;
		TimestampTz oldest = source->takeOverflow();
		/* A warmup already reading goes on (restarting it could starve it under a steady stream);
		 * another one follows it for the keys dropped now. */
		if (source->warmup.active() && !source->warmup.coversNewKeys())
			source->oweRewarm(oldest);
		else
			warmup::request(*source, oldest);
	}
}

void SourceSet::resync(const std::vector<std::string> &names, TimestampTz covers)
{
	for (const std::string &name : names) {
		for (auto &source : sources_) {
			if ((!name.empty() && source->def.name != name) || !source->def.problem.empty())
				continue;
			/* As for an overflow: a warmup reading goes on (a stream of requests would starve it), and
			 * another one is owed after it. */
			if (source->warmup.active() && !source->warmup.coversNewKeys())
				source->oweRewarm(covers ? covers : GetCurrentTimestamp());
			else
				warmup::request(*source, covers);
		}
		if (!name.empty() && !byName_.count(name) && log_budget::allow(GetCurrentTimestamp()))
			ereport(LOG, (errmsg("cachepusher: resync asked for unknown source \"%s\"", logExcerpt(name).c_str())));
	}
}

void SourceSet::retryFailingKeys()
{
	TimestampTz now = GetCurrentTimestamp();
	for (auto &source : sources_)
		if (source->def.problem.empty())
			source->retryFailingKeys(now);
}

namespace {
/* When source's next batch is due; 0 when it has none to build (no keys, or a failure to wait out). */
TimestampTz batchDueAt(const Source &source, TimestampTz now)
{
	if (!source.def.problem.empty() || !source.fetchRetry.due(now))
		return 0;
	return source.pending.batchDueAt(static_cast<size_t>(settings::batchSize), settings::batchDelayMs);
}
} // namespace

Source *SourceSet::nextWithPending()
{
	TimestampTz now = GetCurrentTimestamp();
	for (size_t i = 0; i < sources_.size(); i++) {
		Source &source = *sources_[(roundRobin_ + i) % sources_.size()];
		if (TimestampTz due = batchDueAt(source, now); due != 0 && due <= now) {
			roundRobin_ = (roundRobin_ + i + 1) % sources_.size();
			return &source;
		}
	}
	return nullptr;
}

/*
 * The keys are taken (copied out of the pending set) before anything waits: a drain during the Redis
 * wait in write() (intake.hpp) may add keys to the set, and that is all it may do.
 */
bool SourceSet::pushOneBatch(redis_sink::DocumentWriter &writer)
{
	Source *source = nextWithPending();
	if (source == nullptr)
		return false;
	TimestampTz waitingSince = source->pending.oldestSince();
	std::vector<std::string> keys = source->pending.take(settings::batchSize);
	std::vector<Document> documents;
	std::vector<FailedKey> failed;
	TimestampTz started = GetCurrentTimestamp();
	try {
		pg::inTransaction("cachepusher: fetching documents", [&] { fetchDocuments(*source, keys, documents, failed); });
	} catch (const pg::PgError &e) {
		/* The source itself failed (its plan cannot be prepared): keep the keys and retry later. */
		TimestampTz now = GetCurrentTimestamp();
		long delay = source->fetchRetry.failed(now);
		ereport(LOG, (errmsg("cachepusher: source \"%s\": could not build documents: %s", source->def.name.c_str(),
							 e.what()),
					  errdetail("%zu keys are kept and retried in %ld ms.", keys.size(), delay)));
		source->recordError(std::string("could not build documents: ") + e.what(), now);
		source->markFailed();
		forgetDocumentsPlan(*source);
		source->pending.requeue(keys, waitingSince);
		return true;
	}
	source->fetchRetry.reset();
	TimestampTz now = GetCurrentTimestamp();
	source->documentsBuilt(keys.size(), now - started, now);
	for (const FailedKey &f : failed)
		source->keyFailed(f.key, f.error, now, f.retry);
	/* Sent while Redis still stores the previous batch; if it fails, the keys are pending again. */
	writer.write(*source, documents, waitingSince);
	return true;
}

bool SourceSet::warmupStep(redis_sink::DocumentWriter &writer)
{
	for (auto &source : sources_)
		if (source->rewarmOwed() != 0 && !source->warmup.active())
			warmup::request(*source, source->takeRewarm());
	/*
	 * One warmup at a time, chunk by chunk, so streaming batches go on in between. A warmup waiting
	 * for its retry after a failure (a key query its owner may not run) does not hold up the others.
	 */
	for (auto &source : sources_)
		if (source->warmup.phase != Warmup::Phase::Requested && source->warmup.active() && source->def.problem.empty())
			return warmup::step(*source, writer);
	for (auto &source : sources_)
		if (source->warmup.active() && source->def.problem.empty() && warmup::step(*source, writer))
			return true;
	return false;
}

bool SourceSet::caughtUpTo(TimestampTz t) const
{
	if (catalogFailed_)
		return false;
	for (auto &source : sources_) {
		if (!source->def.problem.empty())
			continue; /* not served: nothing of it will ever be in Redis */
		if (source->overflowed() || (source->rewarmOwed() != 0 && source->rewarmOwed() <= t) ||
			(source->warmup.active() && source->warmup.requestedAt <= t))
			return false;
		TimestampTz oldest = source->pending.oldestSince();
		if (oldest != 0 && oldest <= t)
			return false;
	}
	return true;
}

void SourceSet::publish(const redis_sink::DocumentWriter &writer, bool redisConnected) const
{
	std::vector<SourceStats> stats;
	stats.reserve(sources_.size());
	for (auto &source : sources_) {
		SourceStats s = source->stats();
		s.pending = source->pending.size();
		s.oldestPendingAt = source->pending.oldestSince();
		if (TimestampTz inFlight = writer.inFlightSince(*source); inFlight != 0)
			s.oldestPendingAt = s.oldestPendingAt ? std::min(s.oldestPendingAt, inFlight) : inFlight;
		if (!source->def.problem.empty() || source->failed())
			s.state = SourceState::Error;
		else if (!redisConnected)
			s.state = SourceState::RedisDown;
		else if (source->warmup.active())
			s.state = SourceState::Warming;
		else if (source->failingKeysRetryAt() != 0)
			s.state = SourceState::Failing;
		else
			s.state = SourceState::Streaming;
		stats.push_back(s);
	}
	shared_state::publish(stats.data(), stats.size());
}

TimestampTz SourceSet::batchesDueAt(TimestampTz now) const
{
	TimestampTz first = 0;
	for (auto &source : sources_)
		if (TimestampTz due = batchDueAt(*source, now); due != 0 && (first == 0 || due < first))
			first = due;
	return first;
}

TimestampTz SourceSet::wakeAt(TimestampTz wake) const
{
	for (auto &source : sources_) {
		if (source->warmup.phase == Warmup::Phase::Requested && source->def.problem.empty())
			wake = std::min(wake, source->warmup.retry.nextAttempt());
		/* Only a failed fetch waits for its retry; other pending keys wait for batchesDueAt(). */
		if (!source->pending.empty() && source->fetchRetry.failures() > 0)
			wake = std::min(wake, source->fetchRetry.nextAttempt());
		/* A source that cannot be served retries nothing (retryFailingKeys): no wake-up for it. */
		if (TimestampTz retryAt = source->failingKeysRetryAt(); retryAt != 0 && source->def.problem.empty())
			wake = std::min(wake, retryAt);
	}
	return wake;
}

} // namespace cachepusher

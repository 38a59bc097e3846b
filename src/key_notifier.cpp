#include "key_notifier.hpp"

#include "distinct_keys.hpp"
#include "key_queue.hpp"
#include "notification_payload.hpp"
#include "pg_boundary.hpp"
#include "settings.hpp"

#include <cstring>

extern "C" {
#include "access/xact.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
}

namespace cachepusher::key_notifier {
namespace {

/* One queue entry holds at most this much: the worker can stop reading between entries when full. */
constexpr size_t maxEntryPayload = 64 * 1024;

/*
 * What the transaction collected, in the order it came: a key of a source, or a resync of it. A
 * subtransaction's items are the tail that began when it first added one (levels); its rollback cuts
 * them off, its commit hands them to its parent.
 */
struct Item {
	size_t source; /* index into sources */
	std::string key;
	bool resync;
};

struct Level {
	int nestLevel;
	size_t start;
};

/* A source the transaction collected for. */
struct Source {
	std::string name;
	size_t bytes = 0; /* of its keys: beyond what the queue can hold, a resync instead */
	bool unqueued = false; /* its keys found no room at pre-commit: resynced once the commit is visible */
};

std::vector<Source> sources;
std::vector<Item> items;
std::vector<Level> levels;
/* The entries this transaction wrote before its commit record; resolved by its end. */
std::vector<key_queue::Written> written;

size_t sourceIndex(const std::string &source)
{
	for (size_t i = 0; i < sources.size(); i++)
		if (sources[i].name == source)
			return i;
	sources.push_back(Source{source});
	return sources.size() - 1;
}

/* Where the current (sub)transaction's items go: the tail that began when it first added one. */
void enterLevel()
{
	int nestLevel = GetCurrentTransactionNestLevel();
	if (levels.empty() || levels.back().nestLevel != nestLevel)
		levels.push_back(Level{nestLevel, items.size()});
}

void add(size_t source, std::string_view key, bool resync)
{
	items.push_back(Item{source, std::string(key), resync});
	sources[source].bytes += key.size() + 1;
}

void forget()
{
	/* A transaction of a million keys would otherwise keep their memory for the session. */
	constexpr size_t keepItems = 4096;
	if (items.capacity() > keepItems)
		std::vector<Item>().swap(items);
	items.clear();
	levels.clear();
	sources.clear();
	written.clear();
}

/* Everything collected for one source: its keys (once each when packed), or a resync. */
struct Collected {
	std::vector<std::string_view> keys;
	bool resync = false;
};

enum class HandOver { Done, NoRoom, Failed };

/*
 * Copies the transaction's keys into the commit queue as tentative entries. Runs just before the
 * commit (or PREPARE) record is written. C++ objects live only inside.
 */
HandOver handOverTentative(TransactionId xid)
{
	if (items.empty())
		return HandOver::Done;
	bool allQueued = true;
	try {
		std::vector<Collected> bySource(sources.size());
		for (const Item &item : items) {
			Collected &c = bySource[item.source];
			if (item.resync || sources[item.source].bytes > key_queue::maxSourceBytes())
				c.resync = true;
			else if (!c.resync)
				c.keys.push_back(item.key);
		}
		for (size_t i = 0; i < sources.size(); i++) {
			Collected &c = bySource[i];
			if (!c.resync)
				distinct_keys::keepFirstOccurrences(c.keys);
			std::vector<std::string> payloads;
			if (!c.resync && !notification_payload::packKeys(sources[i].name, c.keys, maxEntryPayload, payloads))
				c.resync = true; /* a key longer than an entry */
			key_queue::Kind kind = key_queue::Kind::Keys;
			if (c.resync) {
				kind = key_queue::Kind::Resync;
				payloads.assign(1, sources[i].name);
			}
			written.reserve(written.size() + payloads.size());
			if (!payloads.empty() && !key_queue::writeTentative(kind, payloads, xid, written)) {
				sources[i].unqueued = true;
				allQueued = false;
			}
		}
	} catch (...) {
		/* Out of memory: what could not be queued is covered by a resync of each source. */
		for (Source &source : sources)
			source.unqueued = true;
		return HandOver::Failed;
	}
	return allQueued ? HandOver::Done : HandOver::NoRoom;
}

/*
 * A resync for each source whose keys were not queued (no room, no memory) or came after the
 * hand-over (no trigger should fire then). Asked for only now that the commit is visible: the worker
 * may start the resync at once, and a snapshot taken before the commit would miss its changes.
 */
void askForResyncs()
{
	/*
	 * Once per source: each mark takes the queue's lock; the first counts the transaction. Nothing
	 * is allocated: this runs in PostgreSQL's commit callback, where no exception may be thrown.
	 */
	bool first = true;
	for (size_t source = 0; source < sources.size(); source++) {
		bool wanted = sources[source].unqueued;
		for (size_t i = 0; i < items.size() && !wanted; i++)
			wanted = items[i].source == source;
		if (wanted) {
			key_queue::markForResync(sources[source].name, first);
			first = false;
		}
	}
}

void onTransactionEnd(XactEvent event, void *)
{
	switch (event) {
	case XACT_EVENT_PRE_COMMIT:
		/* A full queue or no memory: the source is resynced after the commit, which goes on. */
		handOverTentative(GetTopTransactionIdIfAny());
		items.clear();
		break;
	case XACT_EVENT_PRE_PREPARE:
		/*
		 * A resync asked for now would run before COMMIT PREPARED and miss the change, so a
		 * prepared transaction must have its keys queued, or not be prepared.
		 */
		if (handOverTentative(GetTopTransactionIdIfAny()) != HandOver::Done)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("cachepusher: the commit queue has no room for the keys of this transaction"),
					 errdetail("A prepared transaction's changes can only reach Redis through the queue."),
					 errhint("Retry once the worker has caught up, or raise cachepusher.queue_size.")));
		items.clear();
		break;
	case XACT_EVENT_COMMIT:
		askForResyncs();
		key_queue::resolve(written, true);
		forget();
		break;
	case XACT_EVENT_PREPARE:
		askForResyncs();
		key_queue::resolvePrepared(written);
		forget();
		break;
	case XACT_EVENT_ABORT:
		key_queue::resolve(written, false);
		forget();
		break;
	default:
		break;
	}
}

void onSubtransactionEnd(SubXactEvent event, SubTransactionId, SubTransactionId, void *)
{
	if (levels.empty() || levels.back().nestLevel != GetCurrentTransactionNestLevel())
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB) {
		for (size_t i = levels.back().start; i < items.size(); i++)
			sources[items[i].source].bytes -= items[i].key.size() + 1;
		items.resize(levels.back().start);
		levels.pop_back();
	} else if (event == SUBXACT_EVENT_COMMIT_SUB) {
		int parent = levels.back().nestLevel - 1;
		if (levels.size() > 1 && levels[levels.size() - 2].nestLevel == parent)
			levels.pop_back();
		else
			levels.back().nestLevel = parent;
	}
}

/*
 * Whether this backend's changes concern the worker: the queue exists (the library was preloaded) and
 * this is the database the worker serves. Other databases' triggers collect nothing, as a NOTIFY
 * there reached no one. Decided once per backend (its database never changes).
 */
bool collecting()
{
	static int decided = -1;
	if (decided < 0) {
		bool serves = false;
		if (key_queue::available() && settings::database != nullptr) {
			char *name = pg::call([] { return get_database_name(MyDatabaseId); });
			serves = name != nullptr && strcmp(name, settings::database) == 0;
		}
		if (serves)
			pg::call([] {
				RegisterXactCallback(onTransactionEnd, nullptr);
				RegisterSubXactCallback(onSubtransactionEnd, nullptr);
			});
		decided = serves ? 1 : 0;
	}
	return decided == 1;
}

} // namespace

void notifyKeys(const std::string &source, const std::vector<std::string_view> &keys)
{
	if (!collecting() || keys.empty())
		return;
	enterLevel();
	size_t index = sourceIndex(source);
	for (std::string_view key : keys)
		add(index, key, false);
}

void notifyResync(const std::string &source)
{
	if (!collecting())
		return;
	enterLevel();
	add(sourceIndex(source), {}, true);
}

} // namespace cachepusher::key_notifier

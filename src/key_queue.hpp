/*
 * The commit queue: how the keys of committed transactions reach the worker without NOTIFY.
 *
 * NOTIFY takes a cluster-wide lock in PreCommit_Notify and holds it across the commit record's WAL
 * flush, so every notifying commit of the cluster goes one at a time. Instead, a transaction's keys
 * (collected by key_notifier) are copied into this ring buffer in shared memory just before the commit
 * record is written, as a *tentative* entry, into space reserved with one compare-and-swap (no lock);
 * the transaction callback after the commit marks the entry committed (or aborted) with one atomic
 * store and sets the worker's latch. The worker reads committed entries and skips aborted ones; a
 * tentative entry is read once it is resolved. No lock is held across the flush, and a commit never
 * waits for the worker: when the queue has no room, the keys are dropped and their source is marked
 * for a resync once the commit is visible (under the queue's lock, which only that and the worker's
 * attaching take).
 *
 * Positions are byte offsets that only grow (64 bits), so "before" is a comparison; the buffer holds
 * [tail, head). See docs/design.md, "The commit path".
 */
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

extern "C" {
#include "postgres.h"
#include "storage/latch.h"
}

namespace cachepusher::key_queue {

enum class Kind : uint32_t {
	Keys = 1,	/* payload: "<source>\n<key>\n<key>...", keys escaped as notification_payload does */
	Resync = 2, /* payload: the source's name */
};

/* Shared memory: asked for in the request hook, set up in the startup hook (shared_state calls them). */
void shmemRequest();
void shmemInit();
bool available();

/* ---- For committing backends (key_notifier). Nothing here raises or allocates. ---- */

/* One entry a transaction wrote; resolved when the transaction ends. */
struct Written {
	uint64 position;
};

/*
 * Copies the entries of one source (one or more payloads of one kind) into the queue as tentative,
 * all or none. xid: the transaction's (a prepared transaction is resolved by it). Returns false when
 * they do not fit: the caller then marks the source for a resync once its commit is visible.
 */
bool writeTentative(Kind kind, const std::vector<std::string> &payloads, TransactionId xid,
					std::vector<Written> &written);
/*
 * Marks a source for a resync (its keys could not be queued). Only after the commit is visible: the
 * worker may start the resync at once, and its snapshot must see the changes it stands in for.
 * firstOfTransaction: the transaction's first mark, which counts it in Overflow::dropped.
 */
void markForResync(std::string_view source, bool firstOfTransaction);
/* The transaction committed / aborted / was prepared: resolves what it wrote; wakes the worker. */
void resolve(const std::vector<Written> &written, bool committed);
void resolvePrepared(const std::vector<Written> &written);
/* The largest payload a transaction may queue for one source; more asks for a resync instead. */
size_t maxSourceBytes();

/* Where the queue ends now: everything committed before this call is before it (wait_for_sync). */
uint64 headPosition();

/* ---- For the worker (the single reader) ---- */

class Reader {
public:
	virtual ~Reader() = default;
	/* A committed entry. May not call PostgreSQL functions that raise. */
	virtual void onEntry(Kind kind, std::string_view payload) = 0;
	/* An entry of a prepared transaction: whether it commits is learnt later (COMMIT PREPARED). */
	virtual void onPreparedEntry(Kind kind, std::string_view payload, TransactionId xid) = 0;
	/* Whether to stop reading for now (the pending set is full): the rest waits in the queue. */
	virtual bool full() const = 0;
};

/* The worker attaches at start: committing backends set its latch. */
void attachReader(Latch *latch);
/* Whether entries wait that drain() has not handed over yet. */
bool hasNew();
/*
 * Hands every resolved entry to reader (until it is full) and frees their space. Returns the position
 * up to which every entry has been handed over or skipped: an entry still tentative (its transaction
 * is between its commit record and its commit callback) holds it back.
 */
uint64 drain(Reader &reader);
/*
 * The transaction of the oldest entry drain() read past that is still tentative (it holds the queue's
 * space from there on), or InvalidTransactionId.
 */
TransactionId oldestTentative();

/* Whether some source was marked for a resync since the last takeOverflow() (a hint, read unlocked). */
bool overflowed();
/* Sources marked for a resync since the last call ("" in the list: every source). */
struct Overflow {
	std::vector<std::string> sources;
	uint64 dropped = 0; /* transactions whose keys were not queued */
};
Overflow takeOverflow();

} // namespace cachepusher::key_queue

#include "key_queue.hpp"

#include "settings.hpp"

#include <algorithm>
#include <cstring>

extern "C" {
#include "access/transam.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
}

namespace cachepusher::key_queue {
namespace {

/* Unwritten: space a writer has reserved and not yet filled (the worker zeroes the space it frees). */
enum State : uint32 { Unwritten = 0, Tentative = 1, Committed = 2, Aborted = 3, Prepared = 4, Consumed = 5 };

/* Freed space is zeroed, entry headers and all, so an entry's state word must be a plain word. */
#ifdef PG_HAVE_ATOMIC_U32_SIMULATION
#error "the commit queue needs native 32-bit atomics"
#endif
/* Fills the end of the buffer when the next entry does not fit there. */
constexpr uint32 padKind = 0;

/* Every entry starts on a multiple of this, so a gap at the end of the buffer always holds a header. */
constexpr size_t entryAlign = 16;

struct EntryHeader {
	uint32 length; /* header and payload, rounded up to entryAlign */
	pg_atomic_uint32 state;
	uint32 kind;
	TransactionId xid;
};
static_assert(sizeof(EntryHeader) == entryAlign, "an entry header fills one alignment unit");

constexpr size_t nameBytes = 64;

/*
 * Writers reserve space by moving head with a compare-and-swap, fill it, and publish each entry by
 * its state word; no lock is taken by a commit whose keys fit. The worker zeroes the space it has
 * read before it moves tail past it, so reserved space reads as Unwritten until it is published.
 */
struct Queue {
	LWLock *lock; /* the overflow set and the reader's latch */
	Latch *reader;
	pg_atomic_uint64 head; /* the end of the reserved space */
	pg_atomic_uint64 tail; /* moved by the worker only */
	uint64 size;
	/* Sources whose keys did not fit, until the worker takes them; under lock. */
	uint64 dropped;
	bool resyncAll;
	int resyncCount;
	char *resyncNames; /* resyncCapacity * nameBytes, after the data */
	int resyncCapacity;
	char *data;
};

Queue *queue = nullptr;

size_t bufferBytes()
{
	return TYPEALIGN_DOWN(entryAlign, static_cast<size_t>(settings::queueSizeKb) * 1024);
}

size_t sharedBytes()
{
	return MAXALIGN(sizeof(Queue)) + bufferBytes() + static_cast<size_t>(settings::maxSources) * nameBytes;
}

EntryHeader *entryAt(uint64 position)
{
	return reinterpret_cast<EntryHeader *>(queue->data + position % queue->size);
}

uint32 entryLength(size_t payloadBytes)
{
	return static_cast<uint32>(TYPEALIGN(entryAlign, sizeof(EntryHeader) + payloadBytes));
}

/* Under the lock. */
void markLocked(std::string_view source, bool firstOfTransaction)
{
	if (firstOfTransaction)
		queue->dropped++;
	if (queue->resyncAll)
		return;
	for (int i = 0; i < queue->resyncCount; i++)
		if (source == queue->resyncNames + i * nameBytes)
			return;
	if (queue->resyncCount == queue->resyncCapacity || source.size() >= nameBytes) {
		queue->resyncAll = true;
		return;
	}
	char *slot = queue->resyncNames + queue->resyncCount++ * nameBytes;
	memcpy(slot, source.data(), source.size());
	slot[source.size()] = '\0';
}

void setState(const std::vector<Written> &written, State state)
{
	for (const Written &w : written)
		pg_atomic_write_u32(&entryAt(w.position)->state, state);
	/* SetLatch has a memory barrier: the worker it wakes sees the states written above. */
	if (Latch *reader = queue->reader)
		SetLatch(reader);
}

/* The reader's own state: only the worker reads, so this lives in its process. */
uint64 readPosition = 0;
/* Entries read past while still tentative, oldest first; they hold the tail back. */
std::vector<uint64> unresolved;

State stateOf(EntryHeader *entry)
{
	State state = static_cast<State>(pg_atomic_read_u32(&entry->state));
	pg_read_barrier();
	return state;
}

/* Hands over one resolved entry; false when it is still tentative. */
bool handOver(EntryHeader *entry, Reader &reader)
{
	State state = stateOf(entry);
	if (entry->kind == padKind)
		return true;
	std::string_view payload(reinterpret_cast<char *>(entry + 1), entry->length - sizeof(EntryHeader));
	/* The payload is padded with NULs to the entry's length; they are no part of it. */
	payload = payload.substr(0, strnlen(payload.data(), payload.size()));
	Kind kind = static_cast<Kind>(entry->kind);
	switch (state) {
	case Unwritten: /* drain() stops before such an entry; listed for the compiler */
	case Tentative:
		return false;
	case Committed:
		reader.onEntry(kind, payload);
		break;
	case Prepared:
		reader.onPreparedEntry(kind, payload, entry->xid);
		break;
	case Aborted:
	case Consumed:
		break;
	}
	/* A worker started after this one would otherwise hand it over again. */
	pg_atomic_write_u32(&entry->state, Consumed);
	return true;
}

/*
 * Where an entry of length bytes written at position begins: there, or at the buffer's start when it
 * does not fit before the end (the space left is a pad).
 */
uint64 entryStart(uint64 position, uint32 length)
{
	uint64 left = queue->size - position % queue->size;
	return length > left ? position + left : position;
}

/*
 * Gives the space before position back to the writers: zeroed first, so that an entry reserved
 * there later reads as Unwritten until its writer publishes it.
 */
void freeUpTo(uint64 position)
{
	uint64 tail = pg_atomic_read_u64(&queue->tail);
	if (position <= tail)
		return;
	uint64 from = tail % queue->size;
	uint64 bytes = position - tail;
	uint64 first = std::min(bytes, queue->size - from);
	memset(queue->data + from, 0, first);
	memset(queue->data, 0, bytes - first);
	pg_write_barrier();
	pg_atomic_write_u64(&queue->tail, position);
}

} // namespace

void shmemRequest()
{
	RequestAddinShmemSpace(sharedBytes());
	RequestNamedLWLockTranche("cachepusher_queue", 1);
}

void shmemInit()
{
	bool found;
	queue = static_cast<Queue *>(ShmemInitStruct("cachepusher_queue", sharedBytes(), &found));
	if (found)
		return;
	memset(queue, 0, sharedBytes());
	queue->lock = &(GetNamedLWLockTranche("cachepusher_queue"))->lock;
	pg_atomic_init_u64(&queue->head, 0);
	pg_atomic_init_u64(&queue->tail, 0);
	queue->size = bufferBytes();
	queue->data = reinterpret_cast<char *>(queue) + MAXALIGN(sizeof(Queue));
	queue->resyncNames = queue->data + queue->size;
	queue->resyncCapacity = settings::maxSources;
}

bool available()
{
	return queue != nullptr;
}

size_t maxSourceBytes()
{
	/* Half the queue at most, so that one transaction never leaves the others no room at all. */
	return queue ? queue->size / 2 : 0;
}

bool writeTentative(Kind kind, const std::vector<std::string> &payloads, TransactionId xid,
					std::vector<Written> &written)
{
	/* Reserve the room for every entry (all or none) and for a pad where one does not fit at the end. */
	uint64 head = pg_atomic_read_u64(&queue->head);
	for (;;) {
		uint64 tail = pg_atomic_read_u64(&queue->tail);
		uint64 end = head;
		for (const std::string &payload : payloads) {
			uint32 length = entryLength(payload.size() + 1);
			end = entryStart(end, length) + length;
		}
		if (end - tail > queue->size) {
			/*
			 * A head read before others wrote and the worker freed their space may even be behind
			 * the tail: no room is only believed of the head as it is now.
			 */
			pg_read_barrier();
			uint64 now = pg_atomic_read_u64(&queue->head);
			if (now != head) {
				head = now;
				continue;
			}
			return false;
		}
		/* On failure head is another writer's new end: the room is counted again from there. */
		if (pg_atomic_compare_exchange_u64(&queue->head, &head, end))
			break;
	}
	/* [head, end) is ours, and zeroed: the worker stops at the first entry still Unwritten. */
	uint64 position = head;
	for (const std::string &payload : payloads) {
		uint32 length = entryLength(payload.size() + 1);
		uint64 start = entryStart(position, length);
		if (start != position) {
			EntryHeader *pad = entryAt(position);
			pad->length = static_cast<uint32>(start - position);
			pad->kind = padKind;
			pad->xid = InvalidTransactionId;
			pg_write_barrier();
			pg_atomic_write_u32(&pad->state, Consumed);
			position = start;
		}
		EntryHeader *entry = entryAt(position);
		entry->length = length;
		entry->kind = static_cast<uint32>(kind);
		entry->xid = xid;
		char *bytes = reinterpret_cast<char *>(entry + 1);
		memcpy(bytes, payload.data(), payload.size());
		memset(bytes + payload.size(), 0, length - sizeof(EntryHeader) - payload.size());
		/* The worker reads the entry once its state says it is there. */
		pg_write_barrier();
		pg_atomic_write_u32(&entry->state, Tentative);
		/* The caller reserved room for this before it called: push_back does not allocate. */
		written.push_back(Written{position});
		position += length;
	}
	return true;
}

void markForResync(std::string_view source, bool firstOfTransaction)
{
	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	markLocked(source, firstOfTransaction);
	LWLockRelease(queue->lock);
	if (Latch *reader = queue->reader)
		SetLatch(reader);
}

void resolve(const std::vector<Written> &written, bool committed)
{
	if (!written.empty())
		setState(written, committed ? Committed : Aborted);
}

void resolvePrepared(const std::vector<Written> &written)
{
	if (!written.empty())
		setState(written, Prepared);
}

uint64 headPosition()
{
	if (!queue)
		return 0;
	uint64 head = pg_atomic_read_u64(&queue->head);
	pg_read_barrier();
	return head;
}

namespace {
/*
 * At the worker's exit: its latch belongs to a PGPROC that another process gets next (a commit
 * setting it then only wakes that process for nothing, but there is no reason to).
 */
void detachReader(int, Datum latch)
{
	if (queue->reader == reinterpret_cast<Latch *>(DatumGetPointer(latch)))
		queue->reader = nullptr;
}
} // namespace

void attachReader(Latch *latch)
{
	static bool detachRegistered = false;
	if (!detachRegistered) {
		before_shmem_exit(detachReader, PointerGetDatum(latch));
		detachRegistered = true;
	}
	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	queue->reader = latch;
	LWLockRelease(queue->lock);
	readPosition = pg_atomic_read_u64(&queue->tail);
	unresolved.clear();
}

bool hasNew()
{
	if (!queue)
		return false;
	/* An entry still Unwritten is not new yet: its writer sets the latch when it resolves it. */
	if (headPosition() != readPosition && stateOf(entryAt(readPosition)) != Unwritten)
		return true;
	for (uint64 position : unresolved)
		if (stateOf(entryAt(position)) != Tentative)
			return true;
	return false;
}

uint64 drain(Reader &reader)
{
	if (!queue)
		return 0;
	/* Entries resolved since they were read past. */
	unresolved.erase(std::remove_if(unresolved.begin(), unresolved.end(),
									[&](uint64 position) { return handOver(entryAt(position), reader); }),
					 unresolved.end());
	uint64 head = headPosition();
	while (readPosition < head && !reader.full()) {
		EntryHeader *entry = entryAt(readPosition);
		/* Reserved and not filled yet: its length is not known, so nothing after it can be read. */
		if (stateOf(entry) == Unwritten)
			break;
		if (!handOver(entry, reader))
			unresolved.push_back(readPosition);
		readPosition += entry->length;
	}
	uint64 frontier = unresolved.empty() ? readPosition : unresolved.front();
	freeUpTo(frontier);
	return frontier;
}

TransactionId oldestTentative()
{
	for (uint64 position : unresolved)
		if (EntryHeader *entry = entryAt(position); stateOf(entry) == Tentative)
			return entry->xid;
	return InvalidTransactionId;
}

bool overflowed()
{
	return queue && *static_cast<volatile uint64 *>(&queue->dropped) != 0;
}

Overflow takeOverflow()
{
	Overflow overflow;
	if (!queue)
		return overflow;
	/* Copied out under the lock into memory allocated before it: nothing may throw while it is held. */
	std::vector<char> names(static_cast<size_t>(queue->resyncCapacity) * nameBytes);
	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	overflow.dropped = queue->dropped;
	bool all = queue->resyncAll;
	int count = queue->resyncCount;
	memcpy(names.data(), queue->resyncNames, static_cast<size_t>(count) * nameBytes);
	queue->dropped = 0;
	queue->resyncAll = false;
	queue->resyncCount = 0;
	LWLockRelease(queue->lock);
	if (all)
		overflow.sources.emplace_back();
	else
		for (int i = 0; i < count; i++)
			overflow.sources.emplace_back(names.data() + i * nameBytes);
	return overflow;
}

} // namespace cachepusher::key_queue

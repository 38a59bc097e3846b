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

enum State : uint32 { Tentative = 1, Committed = 2, Aborted = 3, Prepared = 4, Consumed = 5 };
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

struct Queue {
	LWLock *lock;
	Latch *reader;
	pg_atomic_uint64 head; /* written under lock, read without it */
	uint64 tail;		   /* under lock */
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
void markLocked(std::string_view source)
{
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
	memset(queue, 0, sizeof(Queue));
	queue->lock = &(GetNamedLWLockTranche("cachepusher_queue"))->lock;
	pg_atomic_init_u64(&queue->head, 0);
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

bool writeTentative(Kind kind, const std::vector<std::string> &payloads, TransactionId xid, std::string_view source,
					std::vector<Written> &written)
{
	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	uint64 head = pg_atomic_read_u64(&queue->head);
	uint64 room = queue->size - (head - queue->tail);
	/* Where each entry goes: one that does not fit before the end of the buffer starts at its front. */
	uint64 end = head;
	for (const std::string &payload : payloads) {
		uint32 length = entryLength(payload.size() + 1);
		uint64 left = queue->size - end % queue->size;
		if (length > left)
			end += left;
		end += length;
	}
	if (end - head > room) {
		markLocked(source);
		LWLockRelease(queue->lock);
		return false;
	}
	uint64 position = head;
	for (const std::string &payload : payloads) {
		uint32 length = entryLength(payload.size() + 1);
		uint64 left = queue->size - position % queue->size;
		if (length > left) {
			EntryHeader *pad = entryAt(position);
			pad->length = static_cast<uint32>(left);
			pad->kind = padKind;
			pad->xid = InvalidTransactionId;
			pg_atomic_init_u32(&pad->state, Consumed);
			position += left;
		}
		EntryHeader *entry = entryAt(position);
		entry->length = length;
		entry->kind = static_cast<uint32>(kind);
		entry->xid = xid;
		pg_atomic_init_u32(&entry->state, Tentative);
		char *bytes = reinterpret_cast<char *>(entry + 1);
		memcpy(bytes, payload.data(), payload.size());
		memset(bytes + payload.size(), 0, length - sizeof(EntryHeader) - payload.size());
		/* The caller reserved room for this before it took the lock: push_back does not allocate. */
		written.push_back(Written{position});
		position += length;
	}
	/* The reader reads head without the lock: the entries must be in memory before it moves. */
	pg_write_barrier();
	pg_atomic_write_u64(&queue->head, position);
	LWLockRelease(queue->lock);
	return true;
}

void markForResync(std::string_view source)
{
	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	markLocked(source);
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
	readPosition = queue->tail;
	LWLockRelease(queue->lock);
	unresolved.clear();
}

bool hasNew()
{
	if (!queue)
		return false;
	if (headPosition() != readPosition)
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
		if (!handOver(entry, reader))
			unresolved.push_back(readPosition);
		readPosition += entry->length;
	}
	uint64 frontier = unresolved.empty() ? readPosition : unresolved.front();
	LWLockAcquire(queue->lock, LW_EXCLUSIVE);
	queue->tail = std::max(queue->tail, frontier);
	LWLockRelease(queue->lock);
	return frontier;
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

#include "shared_state.hpp"

#include "key_queue.hpp"
#include "log_text.hpp"
#include "settings.hpp"

#include <algorithm>
#include <cstring>

extern "C" {
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
}

namespace cachepusher {

const char *sourceStateName(SourceState state)
{
	switch (state) {
	case SourceState::Warming:
		return "warming";
	case SourceState::Streaming:
		return "streaming";
	case SourceState::RedisDown:
		return "redis_down";
	case SourceState::Error:
		return "error";
	case SourceState::Standby:
		return "standby";
	case SourceState::Failing:
		return "failing";
	case SourceState::Loading:
		return "loading";
	case SourceState::Stopped:
		break;
	}
	return "stopped";
}

namespace shared_state {
namespace {

struct Shared {
	LWLock *lock;
	int workerPid;
	Oid workerDatabase; /* the database the published sources are of */
	Latch *workerLatch;
	uint64 syncRequested;
	uint64 syncPosition; /* where the commit queue ended when the newest sync was asked for */
	uint64 syncReached;
	ConditionVariable syncReachedCv;
	int count;
	char catalogError[256]; /* why the worker's last catalog read failed; empty when it worked */
	SourceStats sources[FLEXIBLE_ARRAY_MEMBER];
};

Shared *shared = nullptr;
shmem_request_hook_type previousRequestHook = nullptr;
shmem_startup_hook_type previousStartupHook = nullptr;

Size sharedSize()
{
	return add_size(offsetof(Shared, sources), mul_size(sizeof(SourceStats), settings::maxSources));
}

void requestShmem()
{
	if (previousRequestHook)
		previousRequestHook();
	RequestAddinShmemSpace(sharedSize());
	RequestNamedLWLockTranche("cachepusher", 1);
	key_queue::shmemRequest();
}

void startupShmem()
{
	if (previousStartupHook)
		previousStartupHook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	bool found;
	shared = static_cast<Shared *>(ShmemInitStruct("cachepusher", sharedSize(), &found));
	if (!found) {
		memset(shared, 0, sharedSize());
		shared->lock = &(GetNamedLWLockTranche("cachepusher"))->lock;
		ConditionVariableInit(&shared->syncReachedCv);
	}
	key_queue::shmemInit();
	LWLockRelease(AddinShmemInitLock);
}

} // namespace

void install()
{
	previousRequestHook = shmem_request_hook;
	shmem_request_hook = requestShmem;
	previousStartupHook = shmem_startup_hook;
	shmem_startup_hook = startupShmem;
}

bool available()
{
	return shared != nullptr;
}

void setWorkerPid(int pid)
{
	if (!shared)
		return;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->workerPid = pid;
	shared->workerDatabase = pid == 0 ? InvalidOid : MyDatabaseId;
	shared->workerLatch = pid == 0 ? nullptr : MyLatch;
	if (pid == 0)
		shared->count = 0;
	shared->catalogError[0] = '\0';
	LWLockRelease(shared->lock);
}

void setCatalogError(const std::string &message)
{
	if (!shared)
		return;
	/* Cut on a character boundary before the lock is taken (status returns it as text). */
	char clipped[sizeof(shared->catalogError)];
	copyClipped(message, clipped, sizeof(clipped));
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	memcpy(shared->catalogError, clipped, sizeof(clipped));
	LWLockRelease(shared->lock);
}

int workerPid()
{
	if (!shared)
		return 0;
	LWLockAcquire(shared->lock, LW_SHARED);
	int pid = shared->workerPid;
	LWLockRelease(shared->lock);
	return pid;
}

uint64 requestSync()
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	uint64 n = ++shared->syncRequested;
	/* Read under the lock: a later request never names an earlier position. */
	shared->syncPosition = key_queue::headPosition();
	Latch *worker = shared->workerLatch;
	LWLockRelease(shared->lock);
	if (worker)
		SetLatch(worker);
	return n;
}

uint64 syncRequested(uint64 *queuePosition)
{
	LWLockAcquire(shared->lock, LW_SHARED);
	uint64 n = shared->syncRequested;
	if (queuePosition)
		*queuePosition = shared->syncPosition;
	LWLockRelease(shared->lock);
	return n;
}

void syncReached(uint64 n)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->syncReached = std::max(shared->syncReached, n);
	LWLockRelease(shared->lock);
	ConditionVariableBroadcast(&shared->syncReachedCv);
}

bool waitForSync(uint64 n, long timeoutMs)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeoutMs);
	bool reached = false;
	ConditionVariablePrepareToSleep(&shared->syncReachedCv);
	for (;;) {
		LWLockAcquire(shared->lock, LW_SHARED);
		reached = shared->syncReached >= n;
		LWLockRelease(shared->lock);
		long left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		if (reached || left <= 0)
			break;
		ConditionVariableTimedSleep(&shared->syncReachedCv, left, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	return reached;
}

void publish(const SourceStats *sources, int count)
{
	if (!shared)
		return;
	count = std::min(count, settings::maxSources);
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	/* No sources: the caller's empty vector may hand us a null pointer, which memcpy must not get. */
	if (count > 0)
		memcpy(shared->sources, sources, sizeof(SourceStats) * count);
	shared->count = count;
	LWLockRelease(shared->lock);
}

int snapshot(SourceStats *out, int room, bool *serving, char (*catalogError)[256])
{
	if (serving)
		*serving = false;
	if (catalogError)
		(*catalogError)[0] = '\0';
	if (!shared)
		return 0;
	LWLockAcquire(shared->lock, LW_SHARED);
	if (serving)
		*serving = shared->workerPid != 0 && shared->workerDatabase == MyDatabaseId;
	if (catalogError && shared->workerDatabase == MyDatabaseId)
		memcpy(*catalogError, shared->catalogError, sizeof(shared->catalogError));
	/* Another database's sources may have the same names: their counters are not this one's. */
	int count = shared->workerDatabase == MyDatabaseId ? std::min(shared->count, room) : 0;
	memcpy(out, shared->sources, sizeof(SourceStats) * count);
	LWLockRelease(shared->lock);
	return count;
}

} // namespace shared_state
} // namespace cachepusher

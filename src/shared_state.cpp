#include "shared_state.hpp"

#include "settings.hpp"

#include <algorithm>
#include <cstring>

extern "C" {
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
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
	int count;
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
	}
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
	if (pid == 0)
		shared->count = 0;
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

void publish(const SourceStats *sources, int count)
{
	if (!shared)
		return;
	count = std::min(count, settings::maxSources);
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	memcpy(shared->sources, sources, sizeof(SourceStats) * count);
	shared->count = count;
	LWLockRelease(shared->lock);
}

int snapshot(SourceStats *out, int room)
{
	if (!shared)
		return 0;
	LWLockAcquire(shared->lock, LW_SHARED);
	int count = std::min(shared->count, room);
	memcpy(out, shared->sources, sizeof(SourceStats) * count);
	LWLockRelease(shared->lock);
	return count;
}

} // namespace shared_state
} // namespace cachepusher

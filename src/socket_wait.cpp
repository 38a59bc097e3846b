#include "socket_wait.hpp"

#include "pg_boundary.hpp"
#include "pg_compat.hpp"

extern "C" {
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
}

namespace cachepusher::socket_wait {
namespace {

/* Counts sockets closed: a wait set kept for one socket is stale once its socket may be. */
uint64 socketsClosed = 0;

/*
 * The wait of one socket (one Redis server, the usual case), kept from one wait to the next: a set
 * made per wait costs five system calls (epoll_create1, three epoll_ctl, close), about as much as a
 * small batch's write and read. Made again when the socket may have changed (a connection closed
 * since: a new socket can get the old number, and epoll forgets a closed one).
 */
struct OneSocketSet {
	WaitEventSet *set = nullptr;
	pgsocket fd = PGINVALID_SOCKET;
	uint64 closed = 0;
	int position = -1;
};
OneSocketSet oneSocket;

bool waitForOneSocket(SocketWait &socket, long timeoutMs)
{
	return pg::call([&]() -> bool {
		OneSocketSet &o = oneSocket;
		if (o.set != nullptr && (o.fd != socket.fd || o.closed != socketsClosed)) {
			FreeWaitEventSet(o.set);
			o.set = nullptr;
		}
		if (o.set == nullptr) {
			WaitEventSet *volatile set = pg::createProcessWaitEventSet(3);
			/* Kept only once complete; freed if making it fails. */
			PG_TRY();
			{
				AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
				AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
				o.position = AddWaitEventToSet(set, socket.events, socket.fd, NULL, NULL);
			}
			PG_CATCH();
			{
				FreeWaitEventSet(set);
				PG_RE_THROW();
			}
			PG_END_TRY();
			o.set = set;
			o.fd = socket.fd;
			o.closed = socketsClosed;
		} else
			ModifyWaitEvent(o.set, o.position, socket.events, NULL);
		WaitEvent occurred[3];
		int n = WaitEventSetWait(o.set, timeoutMs, occurred, 3, PG_WAIT_EXTENSION);
		bool latchSet = false;
		for (int i = 0; i < n; i++) {
			if (occurred[i].events & WL_LATCH_SET)
				latchSet = true;
			else if (occurred[i].pos == o.position)
				socket.occurred |= occurred[i].events;
		}
		return latchSet;
	});
}

/*
 * Waits for any of the sockets or the latch, at most timeoutMs; returns whether the latch was set.
 * Plain C inside the boundary: the event set is freed whether or not the wait raises.
 */
bool waitForSockets(SocketWait *sockets, int count, long timeoutMs)
{
	if (count == 1)
		return waitForOneSocket(sockets[0], timeoutMs);
	return pg::call([&]() -> bool {
		volatile bool latchSet = false;
		WaitEventSet *set = pg::createWaitEventSet(count + 2);
		WaitEvent *occurred = (WaitEvent *) palloc(sizeof(WaitEvent) * (count + 2));
		PG_TRY();
		{
			AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
			AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
			for (int i = 0; i < count; i++)
				AddWaitEventToSet(set, sockets[i].events, sockets[i].fd, NULL, &sockets[i]);
			int n = WaitEventSetWait(set, timeoutMs, occurred, count + 2, PG_WAIT_EXTENSION);
			for (int i = 0; i < n; i++) {
				if (occurred[i].events & WL_LATCH_SET)
					latchSet = true;
				else if (occurred[i].user_data != NULL)
					static_cast<SocketWait *>(occurred[i].user_data)->occurred |= occurred[i].events;
			}
		}
		PG_FINALLY();
		{
			FreeWaitEventSet(set);
			pfree(occurred);
		}
		PG_END_TRY();
		return latchSet;
	});
}

} // namespace

void noteSocketClosed()
{
	socketsClosed++;
}

bool waitUntil(SocketWait *sockets, int count, TimestampTz deadline, const std::function<void()> &onWake)
{
	for (;;) {
		long remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		if (remaining <= 0)
			return false;
		if (waitForSockets(sockets, count, remaining)) {
			ResetLatch(MyLatch);
			pg::checkInterrupts();
			onWake();
		}
		for (int i = 0; i < count; i++)
			if (sockets[i].occurred != 0)
				return true;
	}
}

} // namespace cachepusher::socket_wait

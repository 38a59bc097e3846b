/*
 * Waiting for Redis sockets inside the worker or a backend: a WaitEventSet of the sockets, the
 * process latch and postmaster death, so a wait for Redis still hears SIGTERM, a cancel and the
 * latch that says keys have arrived. The one place a Redis wait blocks (docs/design.md section 5).
 */
#pragma once

extern "C" {
#include "postgres.h"
#include "datatype/timestamp.h"
#include "port.h"
}

#include <functional>

namespace cachepusher::socket_wait {

/* One socket to wait for (WL_SOCKET_READABLE / WRITEABLE), and what happened to it. */
struct SocketWait {
	pgsocket fd;
	uint32 events;
	uint32 occurred;
};

/*
 * Waits until one of the sockets is ready (true) or the deadline passes (false). A latch set in
 * between is reset, interrupts are checked and onWake runs: the one way a Redis wait lets the worker
 * take in keys (see intake.hpp), whichever wait it is.
 */
bool waitUntil(SocketWait *sockets, int count, TimestampTz deadline, const std::function<void()> &onWake);

/* A socket was closed: a wait kept for one socket may name a number a new socket gets. */
void noteSocketClosed();

} // namespace cachepusher::socket_wait

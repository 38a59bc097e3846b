/*
 * wait_for_sync() as the worker keeps track of it (shared_state.hpp has the caller's side): a request
 * is taken once every change committed before it has been read, and reported once what was read, and
 * every reload or resync asked for before it, is in Redis. Pure: the loop says what was asked, when,
 * and whether it caught up.
 */
#pragma once

#include "timestamp.hpp"

#include <cstdint>

namespace cachepusher {

/*
 * The earliest time something owed (a reload, a resync) was asked for: the oldest change it stands
 * in for, which wait_for_sync() compares against. 0: nothing is asked for.
 */
class AskedAt {
public:
	void ask(Timestamp when)
	{
		if (at_ == 0 || when < at_)
			at_ = when;
	}
	Timestamp since() const { return at_; }
	/* What was asked is being done: returns since when, and forgets it. */
	Timestamp take();

private:
	Timestamp at_ = 0;
};

class SyncTracker {
public:
	/* Whether request n (the newest asked for) has not been taken yet. */
	bool isNew(uint64_t n) const { return n > taken_; }
	/* Request n is taken: every change before it had been read by drainedAt. */
	void take(uint64_t n, Timestamp drainedAt);
	uint64_t taken() const { return taken_; }
	/* Whether a taken request is not reported yet; it is reached once caught up to owedUpTo(). */
	bool owed() const { return taken_ > reported_; }
	Timestamp owedUpTo() const { return drainedAt_; }
	/* The owed request is reached: returns its number, to report. */
	uint64_t reached();

private:
	uint64_t taken_ = 0;
	Timestamp drainedAt_ = 0;
	uint64_t reported_ = 0;
};

} // namespace cachepusher

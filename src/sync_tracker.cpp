#include "sync_tracker.hpp"

#include "cpp_only.hpp" /* last: this module is PostgreSQL-free */

namespace cachepusher {

Timestamp AskedAt::take()
{
	Timestamp at = at_;
	at_ = 0;
	return at;
}

void SyncTracker::take(uint64_t n, Timestamp drainedAt)
{
	taken_ = n;
	drainedAt_ = drainedAt;
}

uint64_t SyncTracker::reached()
{
	reported_ = taken_;
	return reported_;
}

} // namespace cachepusher

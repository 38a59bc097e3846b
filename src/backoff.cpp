#include "backoff.hpp"

#include <algorithm>

#include "cpp_only.hpp" /* last: this module is PostgreSQL-free */

namespace cachepusher {

long Backoff::failed(Timestamp now)
{
	long first = *firstMs_;
	long longest = *maxMs_;
	long delay = first;
	for (int i = 0; i < failures_ && delay < longest; i++)
		delay *= 2;
	/* A longest wait set below the first one does not shorten the first one. */
	delay = std::min(delay, std::max(longest, first));
	failures_++;
	nextAttempt_ = plusMs(now, delay);
	return delay;
}

} // namespace cachepusher

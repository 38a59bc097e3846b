#include "backoff.hpp"

#include <algorithm>

#include "cpp_only.hpp" /* last: this module is PostgreSQL-free */

namespace cachepusher {

long Backoff::failed(Timestamp now)
{
	long first = *firstMs_;
	long longest = *maxMs_;
	/* A first wait set above the longest is cut to it: no wait is longer than the longest. */
	long delay = std::min(first, longest);
	for (int i = 0; i < failures_ && delay < longest; i++)
		delay *= 2;
	delay = std::min(delay, longest);
	failures_++;
	nextAttempt_ = plusMs(now, delay);
	return delay;
}

} // namespace cachepusher

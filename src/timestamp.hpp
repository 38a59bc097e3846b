/*
 * The time the pure modules (pending keys, back-off, log budget) reckon in: a PostgreSQL TimestampTz,
 * microseconds since 2000-01-01, given to them by the caller (GetCurrentTimestamp()), so that they
 * read no clock of their own and can be tested without PostgreSQL and without sleeping.
 */
#pragma once

#include <cstdint>

namespace cachepusher {

using Timestamp = std::int64_t; /* the same type as TimestampTz */

inline constexpr Timestamp microsecondsPerMs = 1000;

inline Timestamp plusMs(Timestamp t, long ms)
{
	return t + ms * microsecondsPerMs;
}

} // namespace cachepusher

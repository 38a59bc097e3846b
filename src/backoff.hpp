/*
 * Exponential back-off: the first wait after a failure, doubled after each further failure up to a
 * longest wait. The waits are read at each failure, so a reload of the settings they come from
 * applies at the next one. Pure: the caller says what time it is.
 */
#pragma once

#include "timestamp.hpp"

namespace cachepusher {

class Backoff {
public:
	/* firstMs and maxMs are read at each failure (settings::retryIntervalMs, or a constant). */
	Backoff(const int &firstMs, const int &maxMs) : firstMs_(&firstMs), maxMs_(&maxMs) {}

	/* Schedules the next attempt after a failure; returns the delay in ms. */
	long failed(Timestamp now);
	void reset()
	{
		failures_ = 0;
		nextAttempt_ = 0;
	}
	bool due(Timestamp now) const { return now >= nextAttempt_; }
	Timestamp nextAttempt() const { return nextAttempt_; }
	int failures() const { return failures_; }

private:
	const int *firstMs_;
	const int *maxMs_;
	int failures_ = 0;
	Timestamp nextAttempt_ = 0;
};

} // namespace cachepusher

/*
 * The counting behind log_budget.hpp: at most linesPerWindow lines per window of windowMs, the others
 * counted; a window whose lines were all logged ends quietly, one with lines not logged stays open
 * until they are reported. Pure: the caller says what time it is, and logs.
 */
#pragma once

#include "timestamp.hpp"

#include <cstdint>
#include <optional>

namespace cachepusher {

class LogWindow {
public:
	LogWindow(int linesPerWindow, long windowMs) : linesPerWindow_(linesPerWindow), windowMs_(windowMs) {}

	/* Whether a line may be logged now; false: it is counted instead. */
	bool allow(Timestamp now);

	struct NotLogged {
		int64_t lines;
		long seconds; /* how long the window lasted */
	};
	/* Once the window with lines not logged is over: how many they were; the next window opens. */
	std::optional<NotLogged> close(Timestamp now);

	/* When close() will have something to say; 0 when no line went unlogged. */
	Timestamp reportDueAt() const { return notLogged_ == 0 ? 0 : plusMs(windowStart_, windowMs_); }

private:
	bool over(Timestamp now) const { return now - windowStart_ >= windowMs_ * microsecondsPerMs; }
	void open(Timestamp now);

	int linesPerWindow_;
	long windowMs_;
	Timestamp windowStart_ = 0;
	int logged_ = 0;
	int64_t notLogged_ = 0;
};

/*
 * One kind of line said at most once per interval (a hint, a warning that would repeat): due() says
 * whether it may be said now and, if so, counts now as when it was said.
 */
class LogInterval {
public:
	explicit LogInterval(long intervalMs) : intervalMs_(intervalMs) {}
	bool due(Timestamp now);

private:
	long intervalMs_;
	Timestamp saidAt_ = 0;
	bool said_ = false;
};

} // namespace cachepusher

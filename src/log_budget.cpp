#include "log_budget.hpp"

extern "C" {
#include "utils/elog.h"
#include "utils/timestamp.h"
}

namespace cachepusher::log_budget {
namespace {

TimestampTz windowStart = 0;
int logged = 0;
int64 notLogged = 0;

bool windowOver(TimestampTz now)
{
	return TimestampDifferenceExceeds(windowStart, now, windowMs);
}

void openWindow(TimestampTz now)
{
	windowStart = now;
	logged = 0;
	notLogged = 0;
}

} // namespace

bool allow(TimestampTz now)
{
	/* A window whose lines were all logged ends quietly; one with lines not logged waits to report them. */
	if (notLogged == 0 && windowOver(now))
		openWindow(now);
	if (logged < linesPerWindow) {
		logged++;
		return true;
	}
	notLogged++;
	return false;
}

void reportNotLogged(TimestampTz now)
{
	if (notLogged == 0 || !windowOver(now))
		return;
	ereport(LOG, (errmsg("cachepusher: %lld more lines about bad keys and notifications not logged in the last %ld s",
						 static_cast<long long>(notLogged), static_cast<long>((now - windowStart) / USECS_PER_SEC)),
				  errdetail("At most %d such lines are logged every %ld s; status.errors counts every failed key.",
							linesPerWindow, windowMs / 1000)));
	openWindow(now);
}

TimestampTz reportDueAt()
{
	return notLogged == 0 ? 0 : TimestampTzPlusMilliseconds(windowStart, windowMs);
}

} // namespace cachepusher::log_budget

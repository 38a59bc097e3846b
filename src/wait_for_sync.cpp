/*
 * cachepusher.wait_for_sync(timeout): waits until every change committed before the call, and any
 * warmup asked for before it, is in Redis. The caller sleeps on a condition variable that the worker
 * broadcasts (see shared_state.hpp), so a waiting session costs nothing and wakes at once.
 */
#include "pg_boundary.hpp"
#include "served_here.hpp"
#include "shared_state.hpp"

extern "C" {
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "utils/timestamp.h"

PGDLLEXPORT Datum cachepusher_wait_for_sync(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(cachepusher_wait_for_sync);
}

namespace {

/* The interval in milliseconds, months counted as 30 days like PostgreSQL's own interval arithmetic. */
long intervalMs(const Interval *interval)
{
	int64 usecs = interval->time + (interval->day + int64(interval->month) * DAYS_PER_MONTH) * USECS_PER_DAY;
	return static_cast<long>(usecs / 1000);
}

} // namespace

Datum cachepusher_wait_for_sync(PG_FUNCTION_ARGS)
{
	using namespace cachepusher;
	return pg::entry([&] {
		long timeoutMs = intervalMs(PG_GETARG_INTERVAL_P(0));
		if (timeoutMs < 0)
			pg::raise(ERRCODE_INVALID_PARAMETER_VALUE, "wait_for_sync() timeout must not be negative");
		reportIfNotServedHere(ERROR, "wait_for_sync() waits for the worker, which does not run for this database.");
		uint64 n = shared_state::requestSync();
		bool reached = pg::call([&] { return shared_state::waitForSync(n, timeoutMs); });
		return BoolGetDatum(reached);
	});
}

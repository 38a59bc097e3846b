/*
 * cachepusher._source_status(): the worker's counters from shared memory, for the sources the caller
 * may see (the status view is built on it).
 */
#include "catalog_owner.hpp"
#include "log_text.hpp"
#include "pg_boundary.hpp"
#include "settings.hpp"
#include "shared_state.hpp"
#include "spi.hpp"

#include <cmath>
#include <set>
#include <string>
#include <vector>

extern "C" {
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

PGDLLEXPORT Datum cachepusher_worker_status(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(cachepusher_worker_status);
}

namespace cachepusher {
namespace {

/*
 * The sources whose status the caller may see: those of roles whose privileges it has, as the
 * catalog's row security says. The worker's shared memory knows no owners.
 */
std::set<std::string> sourcesVisibleToCaller()
{
	std::string caller = std::to_string(GetUserId());
	std::set<std::string> names;
	spi::connect();
	asCatalogOwner([&] {
		uint64 rows = spi::execute("SELECT name FROM cachepusher.source "
								   "WHERE pg_catalog.pg_has_role($1::pg_catalog.oid, owner, 'USAGE')",
								   {caller});
		for (uint64 row = 0; row < rows; row++)
			names.insert(spi::valueOr(row, 1, ""));
	});
	spi::finish();
	return names;
}

} // namespace
} // namespace cachepusher

using namespace cachepusher;

Datum cachepusher_worker_status(PG_FUNCTION_ARGS)
{
	return pg::entry([&] {
		std::vector<SourceStats> published(settings::maxSources);
		bool serving = false;
		char catalogError[256];
		int count = shared_state::snapshot(published.data(), published.size(), &serving, &catalogError);
		TimestampTz now = GetCurrentTimestamp();
		/* Callable directly, not only through the status view: it shows only the caller's sources. */
		std::set<std::string> visible = sourcesVisibleToCaller();
		std::vector<SourceStats> stats;
		for (int i = 0; i < count; i++)
			if (visible.erase(published[i].name) > 0)
				stats.push_back(published[i]);
		/*
		 * Added since the worker last read the catalog: it has not taken them up yet. Or it cannot
		 * read the catalog: then that is their error.
		 */
		for (const std::string &name : visible)
			if (serving) {
				SourceStats s{};
				strlcpy(s.name, name.c_str(), sizeof(s.name));
				s.state = catalogError[0] ? SourceState::Error : SourceState::Loading;
				if (catalogError[0])
					copyClipped(std::string("the worker cannot read the sources: ") + catalogError, s.lastError,
								sizeof(s.lastError));
				s.warmupTotal = -1;
				stats.push_back(s);
			}
		pg::call([&] {
			InitMaterializedSRF(fcinfo, 0);
			ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
			for (const SourceStats &s : stats) {
				/* 13 columns as 1.2 declares the function, 16 as 1.3 does: a new library serves both. */
				Datum values[16];
				bool nulls[16] = {false};
				values[0] = CStringGetTextDatum(s.name);
				values[1] = CStringGetTextDatum(sourceStateName(s.state));
				values[2] = Int64GetDatum(s.keysReceived);
				values[3] = Int64GetDatum(s.documentsWritten);
				values[4] = Int64GetDatum(s.keysDeleted);
				values[5] = Int64GetDatum(s.errors);
				values[6] = Int64GetDatum(s.pending);
				values[7] = Int64GetDatum(s.oldestPendingAt ? (now - s.oldestPendingAt) / 1000 : 0);
				values[8] = CStringGetTextDatum(s.lastError);
				nulls[8] = s.lastError[0] == '\0';
				values[9] = TimestampTzGetDatum(s.lastErrorAt);
				nulls[9] = s.lastErrorAt == 0;
				values[10] = Int64GetDatum(s.warmupDone);
				values[11] = Int64GetDatum(s.warmupTotal);
				nulls[11] = s.warmupTotal < 0;
				values[12] = TimestampTzGetDatum(s.lastPushAt);
				nulls[12] = s.lastPushAt == 0;
				values[13] = Int64GetDatum(s.keysIgnored);
				/* To the microsecond: more digits are noise (0.30175650000000004). */
				values[14] = Float8GetDatum(std::round(s.msPerDocument * 1000.0) / 1000.0);
				nulls[14] = s.msPerDocument <= 0;
				values[15] = TimestampTzGetDatum(s.statsSince);
				nulls[15] = s.statsSince == 0;
				if (rsinfo->setDesc->natts != 13 && rsinfo->setDesc->natts != 16)
					ereport(ERROR, (errmsg("cachepusher's status function is declared with %d columns; this library "
										   "returns 13 or 16", rsinfo->setDesc->natts),
									errhint("ALTER EXTENSION cachepusher UPDATE")));
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			}
		});
		return (Datum) 0;
	});
}

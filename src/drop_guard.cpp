/*
 * The event trigger that lets DROP EXTENSION cachepusher succeed although watch() put triggers on
 * tables: they depend on cachepusher._notify_trigger(), so without this the drop would fail (or take
 * CASCADE). Before the drop runs, it removes those triggers and tells a running worker to let go.
 */
#include "notification_payload.hpp"
#include "pg_boundary.hpp"
#include "spi.hpp"

#include <string>
#include <vector>

extern "C" {
#include "commands/async.h"
#include "commands/event_trigger.h"
#include "nodes/parsenodes.h"
#include "nodes/value.h"

PGDLLEXPORT Datum cachepusher_before_drop_extension(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(cachepusher_before_drop_extension);
}

namespace {

/* Whether the statement is DROP EXTENSION naming cachepusher (among others, maybe). */
bool dropsCachepusher(FunctionCallInfo fcinfo)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		return false;
	Node *parsetree = ((EventTriggerData *) fcinfo->context)->parsetree;
	if (parsetree == nullptr || !IsA(parsetree, DropStmt))
		return false;
	DropStmt *drop = (DropStmt *) parsetree;
	if (drop->removeType != OBJECT_EXTENSION)
		return false;
	ListCell *cell;
	foreach (cell, drop->objects)
		if (IsA(lfirst(cell), String) && strcmp(strVal(lfirst(cell)), "cachepusher") == 0)
			return true;
	return false;
}

} // namespace

Datum cachepusher_before_drop_extension(PG_FUNCTION_ARGS)
{
	using namespace cachepusher;
	return pg::entry([&] {
		if (!pg::call([&] { return dropsCachepusher(fcinfo); }))
			return (Datum) 0;
		spi::connect();
		uint64 rows =
			spi::execute("SELECT pg_catalog.format('DROP TRIGGER %I ON %s', t.tgname, t.tgrelid::pg_catalog.regclass) "
						 "FROM pg_catalog.pg_trigger t "
						 "WHERE t.tgfoid = 'cachepusher._notify_trigger'::pg_catalog.regproc::pg_catalog.oid "
						 /* Clones in partitions go with their partitioned table's trigger. */
						 "AND t.tgparentid = 0::pg_catalog.oid");
		std::vector<std::string> drops;
		for (uint64 row = 0; row < rows; row++)
			drops.push_back(spi::valueOr(row, 1, ""));
		for (const std::string &drop : drops)
			spi::execute(drop.c_str());
		pg::call([] {
			SPI_finish();
			Async_Notify(notification_payload::controlChannel, "reload");
		});
		return (Datum) 0;
	});
}

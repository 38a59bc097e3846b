/*
 * The event trigger that lets DROP EXTENSION cachepusher succeed although watch() put triggers on
 * tables: they depend on cachepusher._notify_trigger(), so without this the drop would fail (or take
 * CASCADE). Before the drop runs, it removes those triggers and tells a running worker to let go.
 */
#include "notification_payload.hpp"
#include "pg_boundary.hpp"
#include "spi.hpp"
#include "watch_triggers.hpp"

#include <string>
#include <vector>

extern "C" {
#include "commands/async.h"
#include "commands/event_trigger.h"
#include "miscadmin.h"
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
		/* Every source's, dropped as the role that drops the extension. */
		for (const watch_triggers::WatchTrigger &trigger :
			 watch_triggers::find(std::nullopt, std::nullopt, GetUserId()))
			spi::execute(trigger.dropStatement.c_str());
		pg::call([] {
			SPI_finish();
			Async_Notify(notification_payload::controlChannel, "reload");
		});
		return (Datum) 0;
	});
}

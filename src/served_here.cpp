#include "served_here.hpp"

#include "pg_boundary.hpp"
#include "settings.hpp"
#include "shared_state.hpp"

#include <cstring>

extern "C" {
#include "commands/dbcommands.h"
#include "miscadmin.h"
}

namespace cachepusher {

void reportIfNotServedHere(int elevel, const char *consequence)
{
	bool preloaded = shared_state::available();
	pg::call([&] {
		if (!preloaded) {
			ereport(elevel, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							 errmsg("cachepusher is not loaded by shared_preload_libraries"), errdetail("%s", consequence),
							 errhint("Add cachepusher to shared_preload_libraries and restart the server.")));
			return;
		}
		const char *current = get_database_name(MyDatabaseId);
		if (strcmp(current, settings::database) != 0)
			ereport(elevel, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							 errmsg("the cachepusher worker serves database \"%s\", not \"%s\"", settings::database, current),
							 errdetail("%s", consequence),
							 errhint("Set cachepusher.database = '%s' and restart the server to serve this database.",
									 current)));
	});
}

} // namespace cachepusher

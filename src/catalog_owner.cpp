#include "catalog_owner.hpp"

#include "spi.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

namespace cachepusher {

Oid catalogOwner()
{
	return pg::call([] {
		Oid relid = get_relname_relid("source", get_namespace_oid("cachepusher", false));
		HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cachepusher.source is missing");
		Oid relowner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
		ReleaseSysCache(tuple);
		return relowner;
	});
}

void pinSearchPath()
{
	spi::execute("SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true)");
}

} // namespace cachepusher

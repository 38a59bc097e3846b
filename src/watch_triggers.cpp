#include "watch_triggers.hpp"

#include "spi.hpp"

namespace cachepusher::watch_triggers {

std::vector<WatchTrigger> find(const std::optional<std::string> &source, std::optional<Oid> table, Oid role)
{
	std::optional<std::string> tableArg;
	if (table)
		tableArg = std::to_string(*table);
	uint64 rows =
		spi::execute("SELECT pg_catalog.format('DROP TRIGGER %I ON %I.%I', t.tgname, n.nspname, c.relname), "
					 "pg_catalog.pg_has_role($2::pg_catalog.oid, c.relowner, 'USAGE'), "
					 "pg_catalog.has_table_privilege($2::pg_catalog.oid, c.oid, 'TRIGGER') "
					 "FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid "
					 "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
					 "WHERE t.tgfoid = 'cachepusher._notify_trigger'::pg_catalog.regproc::pg_catalog.oid "
					 "AND ($1::pg_catalog.text IS NULL "
					 "     OR pg_catalog.split_part(pg_catalog.encode(t.tgargs, 'escape'), E'\\\\000', 1) = $1) "
					 "AND t.tgparentid = 0::pg_catalog.oid "
					 "AND ($3::pg_catalog.oid IS NULL OR t.tgrelid = $3::pg_catalog.oid) "
					 "ORDER BY t.tgrelid, t.tgname",
					 {source, std::to_string(role), tableArg});
	std::vector<WatchTrigger> triggers;
	for (uint64 row = 0; row < rows; row++)
		triggers.push_back(
			{spi::valueOr(row, 1, ""), spi::valueOr(row, 2, "") == "t", spi::valueOr(row, 3, "") == "t"});
	return triggers;
}

} // namespace cachepusher::watch_triggers

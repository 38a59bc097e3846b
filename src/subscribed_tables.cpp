#include "subscribed_tables.hpp"

#include "composite_key.hpp"
#include "log_text.hpp"
#include "log_window.hpp"
#include "source_set.hpp"
#include "spi.hpp"
#include "transaction.hpp"

#include <cstdlib>
#include <map>
#include <set>
#include <utility>

extern "C" {
#include "utils/elog.h"
#include "utils/timestamp.h"
}

namespace cachepusher::subscribed_tables {
namespace {

/*
 * watch()'s statement triggers of INSERT, UPDATE or DELETE (tgtype: 1 a row trigger; 4, 8, 16 the
 * events; TRUNCATE's stays a statement trigger) on tables a subscription of this database writes to.
 * The arguments (the source, then the key columns, each ended by a zero byte) in hex: names in any
 * encoding, with any characters, come back as they are.
 */
const char *const statementTriggersSql = R"SQL(
SELECT t.tgrelid::pg_catalog.oid, c.relowner::pg_catalog.oid, pg_catalog.encode(t.tgargs, 'hex'),
       t.tgrelid::pg_catalog.regclass::pg_catalog.text
FROM pg_catalog.pg_trigger t
JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
WHERE t.tgfoid = pg_catalog.to_regproc('cachepusher._notify_trigger')
  AND t.tgtype & 1 = 0 AND t.tgtype & 28 <> 0 AND t.tgparentid = 0
  AND EXISTS (SELECT 1 FROM pg_catalog.pg_subscription_rel sr WHERE sr.srrelid = t.tgrelid)
ORDER BY t.tgrelid, t.tgname
)SQL";

/* How long watch() may wait for the table's lock: the subscription's and the application's writes queue behind it. */
constexpr const char *lockTimeoutMs = "1000";

/* Once per ten minutes per table, a table that cannot be switched says so. */
std::map<Oid, LogInterval> failureHints;

struct Table {
	Oid oid;
	Oid owner;
	std::string name; /* as regclass prints it */
	std::string source;
	std::vector<std::string> keyColumns;
};

/* The trigger's arguments from tgargs in hex: each argument ends with a zero byte. */
std::vector<std::string> triggerArguments(const std::string &hex)
{
	std::vector<std::string> arguments;
	std::string current;
	for (size_t i = 0; i + 1 < hex.size(); i += 2) {
		char byte = static_cast<char>(std::strtoul(hex.substr(i, 2).c_str(), nullptr, 16));
		if (byte == '\0')
			arguments.push_back(std::move(current)), current.clear();
		else
			current.push_back(byte);
	}
	return arguments;
}

std::vector<Table> tablesToSwitch(const SourceSet &sources)
{
	std::vector<Table> tables;
	std::set<std::pair<Oid, std::string>> seen;
	uint64 rows = spi::execute(statementTriggersSql);
	for (uint64 row = 0; row < rows; row++) {
		std::vector<std::string> arguments = triggerArguments(spi::valueOr(row, 3, ""));
		/* Not a trigger watch() made, or one of a source not served (dropped, or a problem of its own). */
		if (arguments.size() < 2 || arguments.size() - 1 > composite_key::maxColumns ||
			sources.find(arguments[0]) == nullptr)
			continue;
		Oid oid = static_cast<Oid>(std::strtoul(spi::valueOr(row, 1, "0").c_str(), nullptr, 10));
		if (!seen.emplace(oid, arguments[0]).second)
			continue;
		Table table{oid, static_cast<Oid>(std::strtoul(spi::valueOr(row, 2, "0").c_str(), nullptr, 10)),
					spi::valueOr(row, 4, ""), arguments[0],
					std::vector<std::string>(arguments.begin() + 1, arguments.end())};
		tables.push_back(std::move(table));
	}
	return tables;
}

/* watch() again, as the table's owner (who may make its triggers fire always). */
void watchAgain(const Table &table)
{
	std::string sql = "SELECT cachepusher.watch($1, $2::pg_catalog.oid::pg_catalog.regclass, VARIADIC ARRAY[";
	std::vector<std::optional<std::string>> arguments{table.source, std::to_string(table.oid)};
	for (const std::string &column : table.keyColumns) {
		arguments.push_back(column);
		sql += (arguments.size() > 3 ? ", $" : "$") + std::to_string(arguments.size());
	}
	sql += "]::pg_catalog.name[])";
	pg::asRole(table.owner, [&] {
		spi::execute("SELECT pg_catalog.set_config('lock_timeout', $1, true)", {std::string(lockTimeoutMs)});
		spi::execute(sql.c_str(), arguments);
	});
}

} // namespace

std::vector<std::string> switchToRowTriggers(SourceSet &sources)
{
	std::vector<std::string> switched;
	try {
		pg::inTransaction("cachepusher: giving subscribed tables row triggers", [&] {
			for (const Table &table : tablesToSwitch(sources)) {
				std::string error;
				if (pg::trySubtransaction([&] { watchAgain(table); }, &error)) {
					ereport(LOG,
							(errmsg("cachepusher: table %s is written by a logical replication subscription, whose "
									"apply worker fires no statement trigger: source \"%s\" now watches it with row "
									"triggers, and is resynced",
									table.name.c_str(), logExcerpt(table.source).c_str())));
					switched.push_back(table.source);
					failureHints.erase(table.oid);
				} else if (TimestampTz now = GetCurrentTimestamp();
						   failureHints.try_emplace(table.oid, 600 * 1000).first->second.due(now)) {
					std::string message =
						"the rows a logical replication subscription applies to table " + table.name +
						" do not reach Redis: its statement triggers could not be made row triggers: " + error;
					ereport(
						LOG,
						(errmsg("cachepusher: source \"%s\": %s", logExcerpt(table.source).c_str(), message.c_str()),
						 errdetail("The subscription's apply worker fires no statement trigger. The worker tries "
								   "again at each catalog load (every 10 s)."),
						 errhint("Run cachepusher.watch() for the table again, as its owner.")));
					sources.recordError(table.source, message, now);
				}
			}
		});
	} catch (const pg::PgError &e) {
		ereport(LOG,
				(errmsg("cachepusher: could not look for subscribed tables with statement triggers: %s", e.what())));
		switched.clear();
	}
	return switched;
}

} // namespace cachepusher::subscribed_tables

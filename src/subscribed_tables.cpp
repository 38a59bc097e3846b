#include "subscribed_tables.hpp"

#include "composite_key.hpp"
#include "log_text.hpp"
#include "backoff.hpp"
#include "source.hpp"
#include "source_set.hpp"
#include "spi.hpp"
#include "transaction.hpp"

#include <cstdlib>
#include <map>
#include <set>
#include <utility>

extern "C" {
#include "utils/acl.h"
#include "utils/elog.h"
#include "utils/timestamp.h"
}

namespace cachepusher::subscribed_tables {
namespace {

/*
 * watch()'s statement triggers of INSERT, UPDATE or DELETE (tgtype: 1 a row trigger; 4, 8, 16 the
 * events; TRUNCATE's stays a statement trigger) on tables a subscription of this database writes to.
 * Triggers disabled on purpose (a bulk load) are left so. The arguments (the source, then the key
 * columns, each ended by a zero byte) in hex: names in any encoding, with any characters, come back as
 * they are. Run with search_path pg_catalog only (see switchToRowTriggers).
 */
const char *const statementTriggersSql = R"SQL(
SELECT t.tgrelid::pg_catalog.oid, c.relowner::pg_catalog.oid, pg_catalog.encode(t.tgargs, 'hex'),
       t.tgrelid::pg_catalog.regclass::pg_catalog.text
FROM pg_catalog.pg_trigger t
JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
WHERE t.tgfoid = pg_catalog.to_regproc('cachepusher._notify_trigger')
  AND t.tgtype & 1 = 0 AND t.tgtype & 28 <> 0 AND t.tgparentid = 0 AND t.tgenabled <> 'D'
  AND EXISTS (SELECT 1 FROM pg_catalog.pg_subscription_rel sr WHERE sr.srrelid = t.tgrelid)
ORDER BY t.tgrelid, t.tgname
)SQL";

/*
 * How long watch() may wait for the table's lock: the subscription's and the application's writes
 * queue behind its request meanwhile. A table whose lock is held longer (a long transaction that wrote
 * to it) is tried again after 10 s, 20 s, ... up to 10 minutes.
 */
constexpr const char *lockTimeoutMs = "200";
const int retryFirstMs = 10 * 1000;
const int retryMaxMs = 600 * 1000;
std::map<Oid, Backoff> retries;

struct Table {
	Oid oid;
	Oid owner; /* the table's */
	Oid sourceOwner;
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
		const Source *source = arguments.size() >= 2 ? sources.find(arguments[0]) : nullptr;
		if (source == nullptr || arguments.size() - 1 > composite_key::maxColumns)
			continue;
		Oid oid = static_cast<Oid>(std::strtoul(spi::valueOr(row, 1, "0").c_str(), nullptr, 10));
		if (!seen.emplace(oid, arguments[0]).second)
			continue;
		Table table{oid,
					static_cast<Oid>(std::strtoul(spi::valueOr(row, 2, "0").c_str(), nullptr, 10)),
					source->def.owner,
					spi::valueOr(row, 4, ""),
					arguments[0],
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
	TimestampTz now = GetCurrentTimestamp();
	try {
		pg::inTransaction("cachepusher: giving subscribed tables row triggers", [&] {
			/*
			 * The worker's role is often a superuser, and its session's search_path names public: an
			 * operator a role defined there for other operand types must not be taken for pg_catalog's.
			 */
			spi::execute("SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true)");
			for (const Table &table : tablesToSwitch(sources)) {
				auto retry = retries.try_emplace(table.oid, retryFirstMs, retryMaxMs).first;
				if (!retry->second.due(now))
					continue;
				/*
				 * As the table's owner, who may make its triggers fire always, and only for a source of
				 * a role whose privileges the owner has: the trigger's arguments are what any role with
				 * TRIGGER on the table wrote.
				 */
				std::string error;
				if (!pg::call([&] { return has_privs_of_role(table.owner, table.sourceOwner); }))
					error = "the table's owner does not have the privileges of the source's owner";
				else if (pg::trySubtransaction([&] { watchAgain(table); }, &error)) {
					ereport(LOG, (errmsg("cachepusher: table %s is written by a logical replication subscription, "
										 "whose apply worker fires no statement trigger: source \"%s\" now watches "
										 "it with row triggers, and is resynced",
										 table.name.c_str(), logExcerpt(table.source).c_str())));
					switched.push_back(table.source);
					retries.erase(retry);
					continue;
				}
				long delayMs = retry->second.failed(now);
				std::string message =
					"the rows a logical replication subscription applies to table " + table.name +
					" do not reach Redis: its statement triggers could not be made row triggers: " + error;
				ereport(LOG,
						(errmsg("cachepusher: source \"%s\": %s", logExcerpt(table.source).c_str(), message.c_str()),
						 errdetail("The subscription's apply worker fires no statement trigger. The worker runs "
								   "watch() again as the table's owner; it tries again in %ld s.",
								   delayMs / 1000),
						 errhint("Run cachepusher.watch() for the table again as a role that owns the table "
								 "and may use the source.")));
				sources.recordError(table.source, message, now);
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

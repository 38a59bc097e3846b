#include "source_catalog.hpp"

#include "documents_query.hpp"
#include "spi.hpp"
#include "transaction.hpp"

#include <map>

extern "C" {
#include "utils/builtins.h"
}

namespace cachepusher::source_catalog {
namespace {

/*
 * Resolves each document function now, so a dropped or changed function is reported per source. Names
 * are quoted with quote_ident, which gives NULL for a function that is gone (format's %I would raise
 * and stop every source from loading), or for a set-based source, which has none.
 * $documents_query, $ttl_interval, $value_type and $ttl_field: the columns, or NULL before the extension is updated to 1.2
 * and 1.4.
 * The TTL in whole milliseconds, as Redis takes it (rounded up: never shorter than asked).
 */
const char *const sourcesSql = R"SQL(
SELECT s.name, s.key_prefix, s.key_query, s.document_function, s.owner::oid,
       p.oid IS NOT NULL AS function_exists,
       p.pronargs, p.prorettype IN ('json'::regtype, 'jsonb'::regtype, 'text'::regtype) AS returns_document,
       pg_catalog.quote_ident(pn.nspname) || '.' || pg_catalog.quote_ident(p.proname) AS function_name,
       p.proargtypes[0] AS argument_type,
       EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid = s.owner) AS owner_exists,
       p.prorettype = 'text'::regtype AS returns_text,
       $documents_query AS documents_query,
       pg_catalog.ceil(EXTRACT(epoch FROM $ttl_interval) * 1000)::pg_catalog.int8 AS ttl_ms,
       $value_type AS value_type,
       $ttl_field AS ttl_field
FROM cachepusher.source s
LEFT JOIN pg_catalog.pg_proc p ON p.oid = pg_catalog.to_regprocedure(s.document_function)
LEFT JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
ORDER BY s.name
)SQL";

const char *const channelsSql =
	"SELECT s.name, c FROM cachepusher.source s, pg_catalog.unnest(s.channels) AS c ORDER BY 1, 2";

std::string describeProblem(uint64 row, const SourceDefinition &def)
{
	if (spi::value(row, 11) != "t")
		return "owner role " + std::to_string(def.owner) + " no longer exists";
	if (def.setBased)
		return "";
	if (spi::value(row, 6) != "t")
		return "document function " + def.documentFunction + " does not exist";
	if (spi::value(row, 7) != "1")
		return "document function " + def.documentFunction + " must take exactly one argument";
	if (spi::value(row, 8) != "t")
		return "document function " + def.documentFunction + " must return json, jsonb or text";
	return "";
}

/*
 * A set-based source's documents query, parsed again as its owner (the tables it reads may have
 * changed since add_source). In a subtransaction: a query that no longer parses costs its source only.
 */
void describeDocumentsQuery(SourceDefinition &def)
{
	documents_query::Shape shape;
	std::string error;
	bool parsed = pg::trySubtransaction(
		[&] { pg::asRole(def.owner, [&] { shape = documents_query::describe(def.documentsSql); }); }, &error);
	if (!parsed)
		def.problem = "documents query: " + error;
	else if (!shape.problem.empty())
		def.problem = shape.problem;
	else {
		def.keyType = shape.keyTypeName;
		def.keyTypeOid = shape.keyType;
		def.textDocuments = shape.textDocuments;
		return;
	}
	def.documentsSql.clear();
}

/* The column of cachepusher.source, or a NULL of its type while the extension is older than it. */
std::string columnOrNull(const std::string &column, const char *type)
{
	bool exists = spi::execute("SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = 'cachepusher.source'::pg_catalog.regclass "
							   "AND attname = $1 AND NOT attisdropped",
							   {column}) > 0;
	return exists ? "s." + column : std::string("NULL::") + type;
}

void replaceMarker(std::string &sql, const std::string &marker, const std::string &with)
{
	sql.replace(sql.find(marker), marker.size(), with);
}

} // namespace

std::vector<SourceDefinition> read()
{
	std::vector<SourceDefinition> result;
	{
		std::string sql = sourcesSql;
		replaceMarker(sql, "$documents_query", columnOrNull("documents_query", "text"));
		replaceMarker(sql, "$ttl_interval", columnOrNull("ttl", "interval"));
		replaceMarker(sql, "$value_type", columnOrNull("value_type", "text"));
		replaceMarker(sql, "$ttl_field", columnOrNull("ttl_field", "text"));
		uint64 rows = spi::execute(sql.c_str());
		std::vector<uint64> setBased;
		for (uint64 row = 0; row < rows; row++) {
			SourceDefinition def;
			def.name = spi::valueOr(row, 1, "");
			def.prefix = spi::valueOr(row, 2, def.name);
			def.keyQuery = spi::valueOr(row, 3, "");
			def.documentFunction = spi::valueOr(row, 4, "");
			def.owner = static_cast<Oid>(std::stoul(spi::valueOr(row, 5, "0")));
			if (auto query = spi::value(row, 13)) {
				def.setBased = true;
				def.documentsSql = *query;
			}
			def.expiry.ttlMs = std::stoll(spi::valueOr(row, 14, "0"));
			def.expiry.field = spi::valueOr(row, 16, "");
			/* The table checks the name; a newer one this library does not know cannot be served. */
			std::string valueType = spi::valueOr(row, 15, "string");
			auto type = value_type::parse(valueType);
			def.valueType = type.value_or(value_type::ValueType::String);
			def.problem = type ? describeProblem(row, def) : "value type \"" + valueType + "\" is unknown to this cachepusher library";
			if (def.setBased) {
				if (def.problem.empty())
					setBased.push_back(result.size());
				else
					def.documentsSql.clear();
			} else if (def.problem.empty()) {
				/* Named as for a set-based source: "integer", "public.sku" (in casts and messages). */
				Oid argumentType = static_cast<Oid>(std::stoul(spi::valueOr(row, 10, "0")));
				def.keyType = pg::call([argumentType] { return format_type_be_qualified(argumentType); });
				/* A text document must be JSON too: the cast checks it (and keeps its bytes). */
				std::string toText = spi::value(row, 12) == "t" ? ")::json::text" : ")::text";
				/* The key as its type prints it: a key that prints otherwise ("042") names no document. */
				std::string printed = "(u.k::" + def.keyType + ")::pg_catalog.text";
				def.documentsSql = "SELECT u.k, CASE WHEN " + printed + " OPERATOR(pg_catalog.=) u.k THEN " +
								   spi::valueOr(row, 9, "") + "(u.k::" + def.keyType + toText + " END, " + printed +
								   " FROM pg_catalog.unnest($1::text[]) AS u(k)";
			}
			result.push_back(std::move(def));
		}
		/* After the loop: parsing runs SPI, which replaces the result the loop reads. */
		for (uint64 index : setBased)
			describeDocumentsQuery(result[index]);
		std::map<std::string, SourceDefinition *> byName;
		for (auto &def : result)
			byName[def.name] = &def;
		rows = spi::execute(channelsSql);
		for (uint64 row = 0; row < rows; row++) {
			/* A source added between the two statements is picked up by its own reload message. */
			auto it = byName.find(spi::valueOr(row, 1, ""));
			if (it != byName.end())
				it->second->channels.push_back(spi::valueOr(row, 2, ""));
		}
	}
	return result;
}

std::vector<std::string> forgottenPrefixes()
{
	std::vector<std::string> prefixes;
	pg::inTransaction("cachepusher: loading dropped prefixes", [&] {
		/* Absent while the extension is still at 1.0 (not yet ALTER EXTENSION ... UPDATE). */
		if (spi::execute("SELECT 1 WHERE pg_catalog.to_regclass('cachepusher.forgotten_prefix') IS NOT NULL") == 0)
			return;
		uint64 rows = spi::execute("SELECT key_prefix FROM cachepusher.forgotten_prefix ORDER BY dropped_at");
		for (uint64 row = 0; row < rows; row++)
			prefixes.push_back(spi::valueOr(row, 1, ""));
	});
	return prefixes;
}

void prefixSwept(const std::string &prefix)
{
	pg::inTransaction("cachepusher: forgetting a dropped prefix", [&] {
		/* Gone with DROP EXTENSION while we swept: nothing left to forget. */
		if (spi::execute("SELECT 1 WHERE pg_catalog.to_regclass('cachepusher.forgotten_prefix') IS NOT NULL") == 0)
			return;
		spi::execute("DELETE FROM cachepusher.forgotten_prefix WHERE key_prefix = $1", {prefix});
	});
}

std::optional<std::vector<SourceDefinition>> load()
{
	std::optional<std::vector<SourceDefinition>> result;
	pg::inTransaction("cachepusher: loading sources", [&] {
		if (spi::execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'cachepusher'") != 0)
			result = read();
	});
	return result;
}

} // namespace cachepusher::source_catalog

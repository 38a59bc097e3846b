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
 * $documents_query, $ttl_interval, $value_type, $ttl_field, $key_columns and $key_template: the
 * columns, or NULL before the extension is updated to 1.2, 1.4 and 1.5.
 * The TTL in whole milliseconds, as Redis takes it (rounded up: never shorter than asked).
 * The worker runs this as itself (a superuser, often) with the session's search_path: every operator
 * has operands of exactly the types of one in pg_catalog, which is searched first, so none that a role
 * with CREATE on public could define for other operand types (oid = regtype, numeric * integer) is taken.
 */
const char *const sourcesSql = R"SQL(
SELECT s.name, s.key_prefix, s.key_query, s.document_function, s.owner::oid,
       p.oid IS NOT NULL AS function_exists,
       p.pronargs, p.prorettype IN ('json'::pg_catalog.regtype::pg_catalog.oid, 'jsonb'::pg_catalog.regtype::pg_catalog.oid,
                                    'text'::pg_catalog.regtype::pg_catalog.oid) AS returns_document,
       pg_catalog.quote_ident(pn.nspname) || '.' || pg_catalog.quote_ident(p.proname) AS function_name,
       p.proargtypes::pg_catalog.oid[]::pg_catalog.text AS argument_types,
       EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid = s.owner::pg_catalog.oid) AS owner_exists,
       p.prorettype = 'text'::pg_catalog.regtype::pg_catalog.oid AS returns_text,
       $documents_query AS documents_query,
       pg_catalog.ceil(EXTRACT(epoch FROM $ttl_interval) * 1000::pg_catalog.numeric)::pg_catalog.int8 AS ttl_ms,
       $value_type AS value_type,
       $ttl_field AS ttl_field,
       $key_columns AS key_columns,
       $key_template AS key_template
FROM cachepusher.source s
LEFT JOIN pg_catalog.pg_proc p ON p.oid = pg_catalog.to_regprocedure(s.document_function)::pg_catalog.oid
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
	if (spi::value(row, 7) != std::to_string(def.keyColumns()))
		return "document function " + def.documentFunction + " must take exactly " +
			   (def.keyColumns() == 1 ? std::string("one argument") : std::to_string(def.keyColumns()) + " arguments, one for each column of the key");
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
	else if (shape.keyTypes.size() != def.keyColumns())
		def.problem = "documents query takes " + std::to_string(shape.keyTypes.size()) + " arrays of key columns, not " +
					  std::to_string(def.keyColumns());
	else {
		def.keyTypes = shape.keyTypeNames;
		def.keyTypeOids = shape.keyTypes;
		def.textDocuments = shape.textDocuments;
		return;
	}
	def.documentsSql.clear();
}

/* The column of cachepusher.source, or a NULL of its type while the extension is older than it. */
std::string columnOrNull(const std::string &column, const char *type)
{
	bool exists = spi::execute("SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = "
							   "'cachepusher.source'::pg_catalog.regclass::pg_catalog.oid "
							   "AND attname = $1 AND NOT attisdropped",
							   {column}) > 0;
	return exists ? "s." + column : std::string("NULL::") + type;
}

/* "{23,25}" (an oid[] as text; "[0:1]={23,25}" from an oidvector, which counts from 0) as its oids. */
std::vector<Oid> oidArray(const std::string &text)
{
	std::vector<Oid> oids;
	for (size_t at = text.find('{') + 1; at > 0 && at < text.size();) {
		size_t end = text.find_first_of(",}", at);
		if (end == std::string::npos || end == at)
			break;
		oids.push_back(static_cast<Oid>(std::stoul(text.substr(at, end - at))));
		at = end + 1;
	}
	return oids;
}

/*
 * The query that builds a batch of documents with the document function: rows (key, document or
 * NULL, the key as its types print it). Each component is cast to its argument's type and printed
 * again by the type's output function, as the key query's keys are printed: a key spelt otherwise
 * ("042", a timestamp in another session's time zone) is the document of the key so printed.
 * A key of one column is $1 itself; a key of N columns comes as $1 with its N columns in $2 .. $N+1
 * (the worker decodes them) and its printed columns are returned one by one, for the worker to encode.
 */
std::string functionSql(const SourceDefinition &def, const std::string &function, bool returnsText)
{
	size_t columns = def.keyTypes.size();
	auto component = [&](size_t c) { return columns == 1 ? std::string("u.k") : "u.c" + std::to_string(c + 1); };
	/* format's %s is the output function: a cast to text is not always ('t' is "true", inet adds /32). */
	auto printed = [&](size_t c) { return "pg_catalog.format('%s', " + component(c) + "::" + def.keyTypes[c] + ")"; };
	/* Several arrays side by side: ROWS FROM (unnest(), unnest()), unnest(a, b) is no function. */
	std::string arguments, printedColumns, arrays = "pg_catalog.unnest($1::text[])", names = "k";
	for (size_t c = 0; c < columns; c++) {
		arguments += (c > 0 ? ", " : "") + component(c) + "::" + def.keyTypes[c];
		printedColumns += ", " + printed(c);
		if (columns > 1) {
			arrays += ", pg_catalog.unnest($" + std::to_string(c + 2) + "::text[])";
			names += ", c" + std::to_string(c + 1);
		}
	}
	/* A text document must be JSON too: the cast checks it (and keeps its bytes). */
	std::string toText = returnsText ? ")::json::text" : ")::text";
	return "SELECT u.k, " + function + "(" + arguments + toText + printedColumns + " FROM ROWS FROM (" + arrays +
		   ") AS u(" + names + ")";
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
		replaceMarker(sql, "$key_columns", columnOrNull("key_columns", "smallint"));
		replaceMarker(sql, "$key_template", columnOrNull("key_template", "text"));
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
			size_t columns = std::stoul(spi::valueOr(row, 17, "1"));
			std::string templateError;
			auto keyTemplate = composite_key::KeyTemplate::parse(spi::valueOr(row, 18, ""), columns, templateError);
			def.keyTemplate = keyTemplate.value_or(composite_key::KeyTemplate::parse("", columns, templateError).value());
			if (!type)
				def.problem = "value type \"" + valueType + "\" is unknown to this cachepusher library";
			else if (!keyTemplate)
				def.problem = "key template: " + templateError;
			else
				def.problem = describeProblem(row, def);
			if (def.setBased) {
				if (def.problem.empty())
					setBased.push_back(result.size());
				else
					def.documentsSql.clear();
			} else if (def.problem.empty()) {
				/* Named as for a set-based source: "integer", "public.sku" (in casts and messages). */
				for (Oid argumentType : oidArray(spi::valueOr(row, 10, "{}"))) {
					def.keyTypeOids.push_back(argumentType);
					def.keyTypes.push_back(documents_query::castTypeName(argumentType));
				}
				def.documentsSql = functionSql(def, spi::valueOr(row, 9, ""), spi::value(row, 12) == "t");
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

/*
 * The SQL functions written in C++ that change the sources: add_source, drop_source, set_ttl,
 * set_value_type and unwatch (they check their caller, then write cachepusher.source with the rights
 * of its owner). The status is in sql_status.cpp, the watch() trigger in watch_trigger.cpp. watch and
 * resync are PL/pgSQL in the extension script (cachepusher--1.8.sql).
 */
#include "catalog_owner.hpp"
#include "composite_key.hpp"
#include "documents_query.hpp"
#include "notification_payload.hpp"
#include "pg_boundary.hpp"
#include "pg_compat.hpp"
#include "served_here.hpp"
#include "settings.hpp"
#include "spi.hpp"
#include "sql_arguments.hpp"
#include "watch_triggers.hpp"

#include <optional>
#include <string>
#include <vector>

extern "C" {
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "commands/dbcommands.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "nodes/parsenodes.h"
#include "tcop/cmdtag.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

PGDLLEXPORT Datum cachepusher_add_source(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum cachepusher_drop_source(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum cachepusher_unwatch(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum cachepusher_set_ttl(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum cachepusher_set_value_type(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(cachepusher_add_source);
PG_FUNCTION_INFO_V1(cachepusher_drop_source);
PG_FUNCTION_INFO_V1(cachepusher_unwatch);
PG_FUNCTION_INFO_V1(cachepusher_set_ttl);
PG_FUNCTION_INFO_V1(cachepusher_set_value_type);
}

namespace cachepusher {
namespace {

namespace payload = notification_payload;
using namespace sql_arguments;

/*
 * The source's owner, after checking that the source exists and that the caller has the owner's
 * privileges. With SPI connected.
 */
Oid requireOwnedSource(const std::optional<std::string> &name)
{
	std::optional<std::string> owner;
	asCatalogOwner([&] {
		if (spi::execute("SELECT owner::oid FROM cachepusher.source WHERE name = $1", {name}) > 0)
			owner = spi::value(0, 1);
	});
	if (!owner)
		pg::raise(ERRCODE_UNDEFINED_OBJECT, "cachepusher source \"" + name.value_or("") + "\" does not exist");
	Oid ownerOid = static_cast<Oid>(std::stoul(*owner));
	if (!pg::call([&] { return has_privs_of_role(GetUserId(), ownerOid); }))
		pg::raise(ERRCODE_INSUFFICIENT_PRIVILEGE, "must be owner of cachepusher source \"" + *name + "\"");
	return ownerOid;
}

struct DocumentFunction {
	std::string signature;
	std::vector<Oid> argumentTypes; /* one for each column of the key */
};

/*
 * The function must take an argument for each column of the key (one, or up to 32) and return a
 * document; the caller must be allowed to run it.
 */
DocumentFunction checkDocumentFunction(Oid function)
{
	struct {
		bool found;
		int nargs;
		Oid rettype;
		bool retset;
		char kind;
		Oid pseudoArgument; /* the first argument of a pseudo-type (anyelement, ...), or InvalidOid */
		Oid argumentTypes[composite_key::maxColumns];
	} info{};
	pg::call([&] {
		HeapTuple tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(function));
		if (!HeapTupleIsValid(tuple))
			return;
		Form_pg_proc proc = (Form_pg_proc) GETSTRUCT(tuple);
		info = {true, proc->pronargs, proc->prorettype, proc->proretset, proc->prokind, InvalidOid, {}};
		for (int i = 0; i < proc->pronargs && i < static_cast<int>(composite_key::maxColumns); i++)
			info.argumentTypes[i] = proc->proargtypes.values[i];
		for (int i = 0; i < proc->pronargs && !OidIsValid(info.pseudoArgument); i++)
			if (get_typtype(proc->proargtypes.values[i]) == TYPTYPE_PSEUDO)
				info.pseudoArgument = proc->proargtypes.values[i];
		ReleaseSysCache(tuple);
	});
	if (!info.found)
		pg::raise(ERRCODE_UNDEFINED_FUNCTION,
				  "document function with OID " + std::to_string(function) + " does not exist");
	std::string signature(pg::call([&] { return format_procedure_qualified(function); }));
	if (info.kind != PROKIND_FUNCTION)
		pg::raise(ERRCODE_WRONG_OBJECT_TYPE, signature + " is not a function");
	if (info.nargs < 1 || info.nargs > static_cast<int>(composite_key::maxColumns))
		pg::raise(ERRCODE_INVALID_FUNCTION_DEFINITION,
				  "document function " + signature + " must take one argument, or one for each column of the key (at most 32)",
				  "It is called with each key, cast from text to the argument's type.");
	if (OidIsValid(info.pseudoArgument))
		pg::raise(ERRCODE_INVALID_FUNCTION_DEFINITION,
				  "document function " + signature + " takes an argument of pseudo-type " +
					  pg::call([&] { return format_type_be(info.pseudoArgument); }),
				  "Each key is cast from text to the argument's type, which must be a concrete type.",
				  "Declare the argument as text, integer, uuid or the key column's type.");
	if (info.retset || (info.rettype != JSONOID && info.rettype != JSONBOID && info.rettype != TEXTOID))
		pg::raise(ERRCODE_INVALID_FUNCTION_DEFINITION,
				  "document function " + signature + " must return json, jsonb or text",
				  "It returns the document for a key, or NULL when the document is gone.");
	pg::call([&] {
		if (pg::functionAclCheck(function, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
			aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_FUNCTION, get_func_name(function));
	});
	return {signature, std::vector<Oid>(info.argumentTypes, info.argumentTypes + info.nargs)};
}

/*
 * Parses and plans the key query as the caller, without running it: one SELECT that only reads, a
 * column for each column of the key, no parameters, usable as a subquery (verify() filters it by key),
 * and reading only what the caller may read (the source's SQL runs as the caller). Returns the types
 * of its columns.
 */
std::vector<Oid> checkKeyQuery(const std::string &query, size_t columns)
{
	spi::QueryShape shape = spi::describeQuery(query);
	if (shape.statements != 1 || !shape.returnsRows)
		pg::raise(ERRCODE_INVALID_PARAMETER_VALUE, "key query must be a single SELECT",
				  "It returns every key of the source.");
	if (!shape.onlyReads)
		pg::raise(ERRCODE_INVALID_PARAMETER_VALUE, "key query must be a single SELECT",
				  "It only reads: no INSERT, UPDATE or DELETE (also not in WITH), no FOR UPDATE or FOR SHARE.");
	if (!shape.parameterTypes.empty())
		pg::raise(ERRCODE_INVALID_PARAMETER_VALUE, "key query must not use parameters",
				  "It returns every key of the source.");
	if (shape.columnTypes.size() != columns && columns == 1)
		pg::raise(ERRCODE_INVALID_PARAMETER_VALUE,
				  "key query must return exactly one column, not " + std::to_string(shape.columnTypes.size()),
				  "A key of several columns needs a document function of as many arguments (or a documents query of as "
				  "many arrays).");
	if (shape.columnTypes.size() != columns)
		pg::raise(ERRCODE_INVALID_PARAMETER_VALUE,
				  "key query must return " + std::to_string(columns) + " columns, one for each column of the key, not " +
					  std::to_string(shape.columnTypes.size()),
				  "The document function takes " + std::to_string(columns) +
					  " arguments (or the documents query as many arrays): the key query returns them in that order.");
	std::string wrapped = "SELECT 1 FROM (" + query + "\n) AS keys";
	try {
		pg::call([&] { SPI_freeplan(SPI_prepare(wrapped.c_str(), 0, NULL)); });
	} catch (const pg::PgError &) {
		pg::raise(ERRCODE_INVALID_PARAMETER_VALUE, "key query must be a single SELECT",
				  "It must also work as a subquery: no semicolon at its end.");
	}
	/* Planning checks no privileges; starting the executor (EXPLAIN, which runs nothing) does. */
	try {
		spi::execute(("EXPLAIN (COSTS OFF) " + query).c_str());
	} catch (const pg::PgError &e) {
		if (e.sqlerrcode() != ERRCODE_INSUFFICIENT_PRIVILEGE)
			throw;
		pg::raise(ERRCODE_INSUFFICIENT_PRIVILEGE, std::string("key query: ") + e.what(),
				  "The source's SQL runs as the role that adds it, which must be allowed to read what it reads.");
	}
	return shape.columnTypes;
}

/*
 * Each key goes to the document function as text, cast to the argument's type. A key column of
 * another type that does not convert to it on assignment (text keys for an integer argument) works
 * only while every key's text reads as that type: said, not refused (a text column of numbers is a
 * key, and so is bigint for an integer argument).
 */
void warnOfKeyTypes(const std::vector<Oid> &keyTypes, const DocumentFunction &function)
{
	for (size_t c = 0; c < keyTypes.size() && c < function.argumentTypes.size(); c++) {
		Oid from = keyTypes[c], to = function.argumentTypes[c];
		if (from == to || pg::call([&] { return can_coerce_type(1, &from, &to, COERCION_ASSIGNMENT); }))
			continue;
		std::string fromName = pg::call([&] { return format_type_be(from); });
		std::string toName = pg::call([&] { return format_type_be(to); });
		pg::call([&] {
			ereport(WARNING,
					(errmsg("key query returns %s where document function %s takes %s", fromName.c_str(),
							function.signature.c_str(), toName.c_str()),
					 errdetail("Each key's text is read as %s; a key whose text does not read so fails (invalid "
							   "input syntax) and is not written.",
							   toName.c_str()),
					 errhint("Return the key column the function looks documents up by.")));
		});
	}
}

/*
 * Parses and plans the documents query as the caller, without running it (documents_query.hpp);
 * returns how many columns its keys have.
 */
size_t checkDocumentsQuery(const std::string &query)
{
	documents_query::Shape shape = documents_query::describe(query);
	if (!shape.problem.empty())
		pg::raise(ERRCODE_INVALID_PARAMETER_VALUE, shape.problem, shape.detail);
	return shape.keyTypes.size();
}

void notifyWorker(const std::string &message)
{
	pg::call([&] { Async_Notify(payload::controlChannel, message.c_str()); });
}

struct ColumnValue {
	const char *column; /* a name and type of ours, never the caller's */
	const char *type;
	std::optional<std::string> value;
};

/*
 * Sets columns of the caller's source. A changed definition makes the worker resync the source at the
 * reload: every document written anew.
 */
void changeSource(const std::optional<std::string> &name, const std::vector<ColumnValue> &columns)
{
	if (!name)
		pg::raise(ERRCODE_NULL_VALUE_NOT_ALLOWED, "source must not be NULL");
	spi::connect();
	requireOwnedSource(name);
	std::string sets, changed;
	std::vector<std::optional<std::string>> params = {name};
	for (const ColumnValue &c : columns) {
		std::string param = "$" + std::to_string(params.size() + 1) + "::" + c.type;
		sets += std::string(sets.empty() ? "" : ", ") + c.column + " = " + param;
		/* As text: '1 month' and '30 days' are equal intervals, but not the same TTL. */
		changed += std::string(changed.empty() ? "" : " OR ") + c.column + "::text IS DISTINCT FROM (" + param + ")::text";
		params.push_back(c.value);
	}
	asCatalogOwner([&] {
		std::string sql = "UPDATE cachepusher.source SET " + sets + " WHERE name = $1 AND (" + changed + ")";
		spi::execute(sql.c_str(), params);
	});
	spi::finish();
	notifyWorker("reload");
}

/*
 * Drops the triggers watch() installed for a source: those of _notify_trigger() whose first argument
 * is the source, whatever version of watch() named them, on table (every table when none); returns
 * how many. A trigger on a table the caller owns is dropped as the caller. PostgreSQL lets a role
 * with the TRIGGER privilege create a trigger on a table it does not own but not drop one: on a table
 * the caller has that privilege on, the trigger is dropped as the catalog's owner once the caller is
 * known to own the source (it feeds only that source). On any other table, as the caller: PostgreSQL
 * refuses it. SPI must be connected.
 */
size_t dropWatchTriggers(const std::string &source, std::optional<Oid> table, bool sourceOwned)
{
	Oid caller = GetUserId();
	std::vector<watch_triggers::WatchTrigger> drops;
	/* Read with the catalog owner's rights, under its pinned search_path; the privileges are the caller's. */
	asCatalogOwner([&] { drops = watch_triggers::find(source, table, caller); });
	for (const watch_triggers::WatchTrigger &drop : drops) {
		/* The names are qualified: the statement means the same under the caller's search_path. */
		if (drop.ownedByRole || !drop.roleMayTrigger) {
			spi::execute(drop.dropStatement.c_str());
			continue;
		}
		if (!sourceOwned) {
			requireOwnedSource(source);
			sourceOwned = true;
		}
		asCatalogOwner([&] { spi::execute(drop.dropStatement.c_str()); });
	}
	return drops.size();
}

} // namespace
} // namespace cachepusher

using namespace cachepusher;

Datum cachepusher_add_source(PG_FUNCTION_ARGS)
{
	return pg::entry([&] {
		std::optional<std::string> name = textArg(fcinfo, 0);
		checkName("source name", name);
		/* Called through the 1.1 SQL definition (not yet ALTER EXTENSION UPDATE), there are five. */
		std::optional<std::string> documentsQuery = PG_NARGS() > 5 ? textArg(fcinfo, 5) : std::nullopt;
		if (PG_ARGISNULL(1) && !documentsQuery)
			pg::raise(ERRCODE_NULL_VALUE_NOT_ALLOWED, "document_function must not be NULL",
					  "Give documents_query instead for a set-based source.");
		if (!PG_ARGISNULL(1) && documentsQuery)
			pg::raise(ERRCODE_INVALID_PARAMETER_VALUE, "give document_function or documents_query, not both",
					  "A set-based source builds its documents with documents_query alone: pass NULL as document_function.");
		if (PG_ARGISNULL(2))
			pg::raise(ERRCODE_NULL_VALUE_NOT_ALLOWED, "key_query must not be NULL");
		std::string keyQuery = *textArg(fcinfo, 2);
		std::optional<std::string> prefix = PG_ARGISNULL(3) ? name : textArg(fcinfo, 3);
		if (prefix && prefix->size() > 1 && prefix->back() == ':')
			pg::raise(ERRCODE_INVALID_PARAMETER_VALUE, "invalid key prefix \"" + *prefix + "\"",
					  "Keys are the prefix, \":\" and the key: give the prefix without its \":\" (\"" +
						  prefix->substr(0, prefix->size() - 1) + "\").");
		checkName("key prefix", prefix);
		std::vector<std::string> channels = channelsArg(fcinfo, 4);
		/* Through the 1.3 SQL definition there are six arguments: no ttl, no value type. */
		std::optional<std::string> ttl = ttlArg(fcinfo, 6);
		std::optional<std::string> valueType = valueTypeArg(fcinfo, 7, std::nullopt);
		std::optional<std::string> ttlField = ttlFieldArg(fcinfo, 8);
		/* Through the 1.4 SQL definition there are nine: no key template, keys of one column only. */
		std::optional<std::string> keyTemplate = PG_NARGS() > 9 ? textArg(fcinfo, 9) : std::nullopt;
		std::optional<std::string> signature;
		size_t keyColumns = 1;
		DocumentFunction function;
		if (!documentsQuery) {
			function = checkDocumentFunction(PG_GETARG_OID(1));
			signature = function.signature;
			keyColumns = function.argumentTypes.size();
		}
		Oid caller = GetUserId();

		spi::connect();
		if (documentsQuery)
			keyColumns = checkDocumentsQuery(*documentsQuery);
		if (keyColumns > 1 && PG_NARGS() <= 9)
			pg::raise(ERRCODE_FEATURE_NOT_SUPPORTED, "keys of several columns need cachepusher 1.5",
					  "Run ALTER EXTENSION cachepusher UPDATE.");
		std::vector<Oid> keyTypes = checkKeyQuery(keyQuery, keyColumns);
		if (!documentsQuery)
			warnOfKeyTypes(keyTypes, function);
		std::optional<std::string> keyColumnCount;
		if (keyColumns > 1)
			keyColumnCount = std::to_string(keyColumns);
		if (keyTemplate) {
			std::string error;
			auto parsed = composite_key::KeyTemplate::parse(*keyTemplate, keyColumns, error);
			if (!parsed)
				pg::raise(ERRCODE_INVALID_PARAMETER_VALUE, error,
						  "The key template lays a key out in Redis after \"prefix:\": $1:$2 for a key of two columns, "
						  "one of them in braces to make it the Redis Cluster hash tag ({$1}:$2).");
			keyTemplate = parsed->text();
			if (keyTemplate->empty())
				keyTemplate.reset(); /* the default, stored as NULL */
		}

		std::string channelLines;
		for (const std::string &channel : channels)
			channelLines += channel + "\n";
		asCatalogOwner([&] {
			if (spi::execute("SELECT 1 FROM cachepusher.source WHERE name = $1", {name}) > 0)
				pg::raise(
					ERRCODE_DUPLICATE_OBJECT, "cachepusher source \"" + *name + "\" already exists", "",
					"Drop it first with cachepusher.drop_source(), or change it with set_ttl() or set_value_type().");
			/* The worker's shared memory shows this many sources (status); it serves them all, unseen. */
			spi::execute("SELECT pg_catalog.count(*) FROM cachepusher.source");
			if (std::stoll(spi::valueOr(0, 1, "0")) >= settings::maxSources)
				pg::raise(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
						  "cachepusher.max_sources (" + std::to_string(settings::maxSources) +
							  ") sources exist already",
						  "", "Raise cachepusher.max_sources in postgresql.conf and restart the server.");
			if (spi::execute("SELECT name FROM cachepusher.source WHERE key_prefix = $1", {prefix}) > 0)
				pg::raise(ERRCODE_DUPLICATE_OBJECT,
						  "key prefix \"" + *prefix + "\" is already used by source \"" + spi::valueOr(0, 1, "") + "\"",
						  "Two sources may not share a prefix: their keys would overwrite each other.");
			/* A prefix reused before the worker swept it: its keys are the new source's now. (No such
			 * table while the extension is still at 1.0.) */
			if (spi::execute("SELECT 1 WHERE pg_catalog.to_regclass('cachepusher.forgotten_prefix') IS NOT NULL") > 0)
				spi::execute("DELETE FROM cachepusher.forgotten_prefix WHERE key_prefix = $1", {prefix});
			/* The columns documents_query (1.2), ttl, value_type and ttl_field (1.4), key_columns and
			 * key_template (1.5) are named only when given. */
			std::string columns = std::string("name, ") + (documentsQuery ? "documents_query" : "document_function") +
								  ", key_query, key_prefix, channels, owner";
			std::string values = "$1, $2, $3, $4, array_remove(string_to_array($5, E'\\n'), ''), $6::oid::regrole";
			std::vector<std::optional<std::string>> params = {
				name, documentsQuery ? documentsQuery : signature, keyQuery, prefix, channelLines, std::to_string(caller)};
			for (const ColumnValue &c : std::vector<ColumnValue>{
					 {"ttl", "interval", ttl},
					 {"value_type", "text", valueType},
					 {"ttl_field", "text", ttlField},
					 {"key_columns", "smallint", keyColumnCount},
					 {"key_template", "text", keyTemplate}}) {
				if (!c.value)
					continue;
				columns += std::string(", ") + c.column;
				values += ", $" + std::to_string(params.size() + 1) + "::" + c.type;
				params.push_back(c.value);
			}
			spi::execute(("INSERT INTO cachepusher.source (" + columns + ") VALUES (" + values + ")").c_str(), params);
		});
		spi::finish();
		notifyWorker("reload");
		reportIfNotServedHere(WARNING, "The source is registered, but nothing is written to Redis until the worker serves this database.");
		return (Datum) 0;
	});
}

Datum cachepusher_drop_source(PG_FUNCTION_ARGS)
{
	return pg::entry([&] {
		std::optional<std::string> name = textArg(fcinfo, 0);
		/* Called on NULL input since 1.8 (STRICT before: a NULL made it do nothing, silently). */
		if (!name)
			pg::raise(ERRCODE_NULL_VALUE_NOT_ALLOWED, "name must not be NULL");
		if (PG_NARGS() > 1 && PG_ARGISNULL(1))
			pg::raise(ERRCODE_NULL_VALUE_NOT_ALLOWED, "delete_keys must not be NULL");
		spi::connect();
		requireOwnedSource(name);

		dropWatchTriggers(*name, std::nullopt, true);

		bool deleteKeys = pg::call([&] { return PG_NARGS() > 1 && PG_GETARG_BOOL(1); });
		asCatalogOwner([&] {
			spi::execute("DELETE FROM cachepusher.source WHERE name = $1 RETURNING key_prefix", {name});
			std::optional<std::string> prefix = spi::value(0, 1);
			if (deleteKeys)
				spi::execute("INSERT INTO cachepusher.forgotten_prefix (key_prefix) VALUES ($1) "
							 "ON CONFLICT (key_prefix) DO NOTHING",
							 {prefix});
		});
		spi::finish();
		notifyWorker("reload");
		return (Datum) 0;
	});
}

Datum cachepusher_unwatch(PG_FUNCTION_ARGS)
{
	return pg::entry([&] {
		std::optional<std::string> name = textArg(fcinfo, 0);
		if (!name)
			pg::raise(ERRCODE_NULL_VALUE_NOT_ALLOWED, "source must not be NULL");
		if (PG_ARGISNULL(1))
			pg::raise(ERRCODE_NULL_VALUE_NOT_ALLOWED, "tbl must not be NULL");
		Oid table = PG_GETARG_OID(1);
		spi::connect();
		/* Clones of a partitioned table's triggers go with the partitioned table's (unwatch that). */
		if (dropWatchTriggers(*name, table, false) == 0) {
			/* Qualified, whatever the caller's search_path. */
			std::string tableName(pg::call([&] {
				const char *relation = get_rel_name(table);
				return relation ? quote_qualified_identifier(get_namespace_name(get_rel_namespace(table)), relation)
								: psprintf("%u", table);
			}));
			pg::raise(ERRCODE_UNDEFINED_OBJECT, "cachepusher source \"" + *name + "\" does not watch " + tableName);
		}
		spi::finish();
		return (Datum) 0;
	});
}

Datum cachepusher_set_ttl(PG_FUNCTION_ARGS)
{
	return pg::entry([&] {
		std::optional<std::string> name = textArg(fcinfo, 0);
		changeSource(name, {{"ttl", "interval", ttlArg(fcinfo, 1)}, {"ttl_field", "text", ttlFieldArg(fcinfo, 2)}});
		return (Datum) 0;
	});
}

Datum cachepusher_set_value_type(PG_FUNCTION_ARGS)
{
	return pg::entry([&] {
		std::optional<std::string> name = textArg(fcinfo, 0);
		if (PG_ARGISNULL(1))
			pg::raise(ERRCODE_NULL_VALUE_NOT_ALLOWED, "value_type must not be NULL");
		changeSource(name, {{"value_type", "text", valueTypeArg(fcinfo, 1, std::nullopt)}});
		return (Datum) 0;
	});
}

/*
 * cachepusher.verify(source, repair): compares Redis with the database for every key of a source and
 * returns what differs: 'missing' (a document Redis lacks), 'stale' (Redis holds other bytes),
 * 'orphan' (a key under the prefix whose document is gone or that the key query does not return),
 * 'error' (the document cannot be built; the message is logged as a NOTICE).
 *
 * It runs in the caller's session, batch by batch (batch_size keys), so memory follows the batch, not
 * the source: the key query through a cursor, documents by the worker's own query, values by pipelined
 * GETs; then SCAN over the prefix, each page checked against the key query filtered to that page.
 * The source's SQL runs as its owner, as in the worker.
 *
 * repair does not write to Redis itself: a write from here could land after a newer one by the worker.
 * It hands the keys to the worker (NOTIFY at commit), which re-reads and writes them like any change.
 */
#include "composite_key.hpp"
#include "document_fetcher.hpp"
#include "documents_query.hpp"
#include "key_notifier.hpp"
#include "pg_boundary.hpp"
#include "redis_sink.hpp"
#include "redis_target.hpp"
#include "served_here.hpp"
#include "settings.hpp"
#include "source.hpp"
#include "source_catalog.hpp"
#include "spi.hpp"
#include "stored_value.hpp"
#include "transaction.hpp"

#include <hiredis/hiredis.h>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

extern "C" {
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

PGDLLEXPORT Datum cachepusher_verify(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(cachepusher_verify);
}

namespace cachepusher {
namespace {

const char *const cursorName = "cachepusher_verify_keys";

struct Finding {
	std::string key;
	const char *problem;
	/* false: a Redis key no key of the source is laid out as (the key template), named as it is */
	bool isKey = true;
};

class Verifier {
public:
	Verifier(FunctionCallInfo fcinfo, bool repair) : fcinfo_(fcinfo), repair_(repair), redis_([] {}) {}

	void connect()
	{
		redis_.configure(settings::redisAddress());
		redis_.connect();
	}

	void verify(Source &source)
	{
		try {
			compareDocuments(source);
			findOrphans(source);
		} catch (...) {
			forgetDocumentsPlan(source);
			throw;
		}
		forgetDocumentsPlan(source);
	}

private:
	/* A batch of the key query's keys: each document against the value in Redis. */
	void compareBatch(Source &source, const std::vector<std::string> &keys)
	{
		std::vector<Document> documents;
		std::vector<FailedKey> failed;
		fetchDocuments(source, keys, documents, failed);

		for (const Document &doc : documents) {
			std::string redisKey = source.def.redisKey(doc.key);
			redis_.append(redisKey, value_type::readCommand(source.def.valueType, redisKey));
		}
		std::vector<RedisReplyPtr> replies = redis_.exchange();
		std::vector<Finding> findings;
		std::string why;
		for (size_t i = 0; i < documents.size(); i++)
			if (const char *problem = stored_value::compare(source.def, documents[i], replies[i].get(), why)) {
				if (!why.empty())
					notice(source, documents[i].key, why);
				findings.push_back({documents[i].key, problem});
			}
		for (const FailedKey &f : failed) {
			notice(source, f.key, f.error);
			findings.push_back({f.key, "error"});
		}
		report(source, findings);
	}

	/* Every key of the key query: its document against the value in Redis. */
	void compareDocuments(Source &source)
	{
		pg::asRole(source.def.owner, [&] { spi::declareCursor(cursorName, source.def.keyQuery); });
		bool exhausted = false;
		while (!exhausted)
			/* One batch's rows and documents at a time in memory, however many the source has. */
			spi::inOwnConnection([&] {
				std::vector<std::string> keys;
				pg::asRole(source.def.owner, [&] {
					uint64 rows = spi::fetchFromCursor(cursorName, settings::batchSize);
					for (uint64 row = 0; row < rows; row++)
						if (auto key = keyInRow(row, 1, source.def.keyColumns());
							key && !key->empty()) /* "" is no key, as in a warmup */
							keys.push_back(std::move(*key));
					exhausted = rows == 0;
				});
				if (!keys.empty())
					compareBatch(source, keys);
			});
		spi::closeCursor(cursorName);
	}

	/*
	 * Every key under the prefix: does the key query still return it? A Redis key no key of the source
	 * is laid out as (the key template wants braces it lacks) is an orphan by its look.
	 */
	void findOrphans(Source &source)
	{
		size_t columns = source.def.keyColumns();
		SPIPlanPtr plan = nullptr;
		bool emptySource = false;
		pg::asRole(source.def.owner, [&] {
			/* The key query goes in as a subquery, closed on a new line: it may end in a -- comment. */
			std::string names, types;
			for (size_t c = 1; c <= columns; c++) {
				names += (c > 1 ? ", c" : "c") + std::to_string(c);
				types += (c > 1 ? ", pg_catalog.pg_typeof(q.c" : "pg_catalog.pg_typeof(q.c") + std::to_string(c) +
						 ")::pg_catalog.oid";
			}
			std::string subquery = "(" + source.def.keyQuery + "\n) AS q(" + names + ")";
			if (spi::execute(("SELECT " + types + " FROM " + subquery + " LIMIT 1").c_str()) == 0) {
				emptySource = true;
				return;
			}
			/* The key query's column types. */
			auto keyType = [](int c) {
				return documents_query::castTypeName(static_cast<Oid>(std::stoul(spi::valueOr(0, c, "25"))));
			};
			/*
			 * Keys are written as the function's argument type (or the documents query's) prints them.
			 * A key column of that type is compared as it is, so an index on it is used; one of another
			 * type (text keys for an integer function) is cast to it first, as the worker casts it.
			 */
			auto type = [&](size_t c) { return source.def.keyTypes[c - 1]; };
			auto column = [&](size_t c) {
				std::string name = "q.c" + std::to_string(c);
				return type(c) == keyType(static_cast<int>(c)) ? name : "(" + name + ")::" + type(c);
			};
			/* format's %s is the type's output function, as the worker prints keys (a cast to text is not). */
			auto printed = [&](size_t c) { return "pg_catalog.format('%s', " + column(c) + ")"; };
			if (columns == 1) {
				plan = spi::prepareWithKeys("SELECT " + printed(1) + " FROM " + subquery + " WHERE " + column(1) +
											" = ANY($1::text[]::" + type(1) + "[])");
				return;
			}
			std::string cast, arrays, keyColumns, compared;
			for (size_t c = 1; c <= columns; c++) {
				std::string n = std::to_string(c);
				keyColumns += (c > 1 ? ", " : "") + printed(c);
				compared += (c > 1 ? ", " : "") + column(c);
				cast += (c > 1 ? ", u.c" : "u.c") + n + "::" + type(c);
				arrays += (c > 1 ? ", pg_catalog.unnest($" : "pg_catalog.unnest($") + n + "::text[])";
			}
			plan = spi::prepareWithArrays("SELECT " + keyColumns + " FROM " + subquery + " WHERE (" + compared +
											  ") IN (SELECT " + cast + " FROM ROWS FROM (" + arrays + ") AS u(" +
											  names + "))",
										  columns);
		});
		std::string cursor = "0";
		try {
			/* One page's lookups at a time in memory. */
			do
				spi::inOwnConnection([&] {
					std::vector<std::string> found, keys;
					cursor = redis_sink::scanPrefix(redis_, source.def.prefix, cursor, settings::batchSize, found);
					std::vector<Finding> findings;
					for (std::string &suffix : found) {
						if (std::optional<std::string> key = source.def.keyTemplate.keyOf(suffix))
							keys.push_back(std::move(*key));
						else
							findings.push_back({std::move(suffix), "orphan", false});
					}
					std::unordered_set<std::string> present;
					if (!emptySource)
						present = keysTheSourceHas(source, plan, keys);
					std::unordered_set<std::string> reported;
					for (std::string &key : keys)
						if (!present.count(key) && reported.insert(key).second)
							findings.push_back({std::move(key), "orphan"});
					report(source, findings);
				});
			while (cursor != "0");
		} catch (...) {
			spi::freePlan(plan);
			throw;
		}
		spi::freePlan(plan);
	}

	std::unordered_set<std::string> keysTheSourceHas(Source &source, SPIPlanPtr plan, const std::vector<std::string> &keys)
	{
		size_t columns = source.def.keyColumns();
		std::unordered_set<std::string> present;
		auto lookUp = [&](const std::vector<std::string> &some) {
			pg::asRole(source.def.owner, [&] {
				uint64 rows;
				if (columns == 1)
					rows = spi::executeWithKeys(plan, some);
				else {
					/* Each column's components: a key that does not decode is no key of the source. */
					std::vector<std::vector<std::string>> arrays(columns);
					std::vector<std::string> components;
					for (const std::string &key : some)
						if (composite_key::decode(key, columns, components))
							for (size_t c = 0; c < columns; c++)
								arrays[c].push_back(std::move(components[c]));
					rows = spi::executeWithArrays(plan, arrays);
				}
				for (uint64 row = 0; row < rows; row++)
					if (auto key = keyInRow(row, 1, columns); key && !key->empty()) /* "prefix:" is always an orphan */
						present.insert(std::move(*key));
			});
		};
		lookUpCastable(keys, lookUp);
		return present;
	}

	/*
	 * A key that does not even cast to the key type (certainly not the source's) fails the whole
	 * lookup: halve the keys until it stands alone, so a page with one such key costs a few lookups
	 * rather than one per key.
	 */
	template <typename LookUp> void lookUpCastable(const std::vector<std::string> &keys, const LookUp &lookUp)
	{
		std::string error;
		if (keys.empty() || pg::trySubtransaction([&] { lookUp(keys); }, &error) || keys.size() == 1)
			return;
		auto middle = keys.begin() + keys.size() / 2;
		lookUpCastable(std::vector<std::string>(keys.begin(), middle), lookUp);
		lookUpCastable(std::vector<std::string>(middle, keys.end()), lookUp);
	}

	void notice(const Source &source, const std::string &key, const std::string &error)
	{
		pg::call([&] {
			ereport(NOTICE, (errmsg("cachepusher source \"%s\", key \"%s\": %s", source.def.name.c_str(), key.c_str(),
									error.c_str())));
		});
	}

	/* Emits the rows; with repair, queues the keys for the worker. */
	void report(const Source &source, const std::vector<Finding> &findings)
	{
		if (findings.empty())
			return;
		pg::call([&] {
			ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo_->resultinfo;
			for (const Finding &f : findings) {
				Datum values[3] = {CStringGetTextDatum(source.def.name.c_str()), CStringGetTextDatum(f.key.c_str()),
								   CStringGetTextDatum(f.problem)};
				bool nulls[3] = {false, false, false};
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			}
		});
		if (!repair_)
			return;
		std::vector<std::string_view> keys;
		for (const Finding &f : findings)
			if (!f.isKey)
				notice(source, f.key, "no key of the source is laid out so in Redis; its next warmup deletes it "
									  "(cachepusher.resync())");
			else if (std::string_view(f.problem) != "error")
				keys.push_back(f.key);
		key_notifier::notifyKeys(source.def.name, keys);
	}

	FunctionCallInfo fcinfo_;
	bool repair_;
	RedisTarget redis_;
};

} // namespace
} // namespace cachepusher

Datum cachepusher_verify(PG_FUNCTION_ARGS)
{
	using namespace cachepusher;
	return pg::entry([&] {
		std::optional<std::string> only;
		bool repair = false;
		pg::call([&] {
			InitMaterializedSRF(fcinfo, 0);
			if (!PG_ARGISNULL(0))
				only = text_to_cstring(PG_GETARG_TEXT_PP(0));
			repair = !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);
		});
		spi::connect();
		if (repair)
			reportIfNotServedHere(ERROR, "verify(repair => true) hands the keys to the worker, which does not run for this database.");

		/* The sources the caller may see (row security on cachepusher.source). */
		std::vector<Source> sources;
		bool named = false;
		for (SourceDefinition &def : source_catalog::read()) {
			if (only && def.name != *only)
				continue;
			named = true;
			if (!def.problem.empty())
				pg::call([&] {
					ereport(WARNING, (errmsg("cachepusher source \"%s\" is not verified: %s", def.name.c_str(),
											 def.problem.c_str())));
				});
			else {
				sources.emplace_back();
				sources.back().def = std::move(def);
			}
		}
		if (only && !named)
			pg::raise(ERRCODE_UNDEFINED_OBJECT, "cachepusher source \"" + *only + "\" does not exist");

		Verifier verifier(fcinfo, repair);
		try {
			verifier.connect();
		} catch (const RedisError &e) {
			pg::raise(ERRCODE_CONNECTION_FAILURE, std::string("cachepusher: ") + e.what());
		}
		/* Keys and documents spelt as the worker spells them, whatever the caller SET. */
		pg::withSessionDefaults([&] {
			for (Source &source : sources) {
				try {
					verifier.verify(source);
				} catch (const RedisError &e) {
					pg::raise(ERRCODE_CONNECTION_FAILURE, std::string("cachepusher: ") + e.what());
				}
			}
		});
		spi::finish();
		return (Datum) 0;
	});
}

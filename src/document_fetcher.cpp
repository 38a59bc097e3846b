#include "document_fetcher.hpp"

#include "composite_key.hpp"
#include "documents_query.hpp"
#include "log_text.hpp"
#include "pg_compat.hpp"
#include "settings.hpp"
#include "spi.hpp"
#include "transaction.hpp"

#include <algorithm>
#include <unordered_map>

extern "C" {
#include "miscadmin.h"
#include "utils/elog.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
}

namespace cachepusher {
namespace {

/*
 * The plan for a batch of this many keys. Left to itself, PostgreSQL's plan cache judges by the cost
 * of the plans of a kept plan's first five runs: after a warmup's batches of thousands of keys it
 * keeps the generic plan, but when the first batches are the few keys commits bring (no warmup at
 * start, or the plan prepared again) a plan made for one key looks cheaper than the generic plan,
 * which reckons with arrays of ten, and every batch was planned again (033; the seed's query at
 * 2,000 commits/s: the worker's CPU 97 µs a commit, 60 with the generic plan). Batches of a few keys
 * run the generic plan always; larger ones (a warmup's) are left to PostgreSQL, as before.
 */
constexpr size_t genericPlanMaxKeys = 64;

SPIPlanPtr documentsPlanFor(const Source &source, size_t keys)
{
	return keys <= genericPlanMaxKeys ? source.documentsGenericPlan : source.documentsPlan;
}

/*
 * A key that casts to the key type but is spelt otherwise than the type prints it ("042" is 42, which
 * prints as "42"; a timestamptz a trigger printed in its session's time zone) names the document of the
 * key as printed, the key the key query returns: that document is written. Under the key as spelt,
 * nothing belongs (a document there would be an orphan no warmup removes): it is deleted.
 */
void respelled(std::string key, std::string printed, std::optional<std::string> body, std::vector<Document> &documents)
{
	documents.push_back(Document{std::move(printed), std::move(body)});
	documents.push_back(Document{std::move(key), std::nullopt});
}

/*
 * A document function: one row (key, document or NULL, the key cast to the key type and printed) for
 * every key asked for.
 */
void fetchByFunction(const Source &source, const std::vector<std::string> &keys, std::vector<Document> &documents)
{
	size_t columns = source.def.keyColumns();
	if (columns == 1)
		pg::withStatementTimeout([&] { spi::executeWithKeys(documentsPlanFor(source, keys.size()), keys); });
	else {
		/* The keys, then each column's components: the worker decodes, the query only casts. */
		std::vector<std::vector<std::string>> arrays(columns + 1);
		arrays[0] = keys;
		std::vector<std::string> components;
		for (const std::string &key : keys) {
			if (!composite_key::decode(key, columns, components))
				pg::raise(ERRCODE_INVALID_TEXT_REPRESENTATION,
						  "not a key of " + std::to_string(columns) + " columns: \"" + logExcerpt(key) + "\"");
			for (size_t c = 0; c < columns; c++)
				arrays[c + 1].push_back(std::move(components[c]));
		}
		pg::withStatementTimeout([&] { spi::executeWithArrays(documentsPlanFor(source, keys.size()), arrays); });
	}
	uint64 rows = SPI_processed;
	for (uint64 row = 0; row < rows; row++) {
		std::string key = spi::valueOr(row, 1, "");
		std::string printed = keyInRow(row, 3, columns).value_or("");
		if (printed != key)
			respelled(std::move(key), std::move(printed), spi::value(row, 2), documents);
		else
			documents.push_back(Document{std::move(key), spi::value(row, 2)});
	}
}

/*
 * A documents query: rows (key, document) for the keys it finds; a key asked for without a row is
 * gone. Rows are matched to the keys asked for by the key as its type prints it, as the key query
 * prints it; rows for keys not asked for are ignored. A key spelt otherwise (" 42") is respelled (see
 * above). Two rows for one key, or a text document that is not JSON, raise: the batch is then tried
 * key by key like any other failure, so only that key fails.
 */
void fetchByQuery(const Source &source, const std::vector<std::string> &keys, std::vector<Document> &documents)
{
	std::vector<std::string> printed;
	uint64 rows = 0;
	pg::withStatementTimeout([&] {
		rows = documents_query::run(documentsPlanFor(source, keys.size()), source.def.keyTypeOids, keys, printed);
	});

	/* Each key asked for, and the row of its document among bodies (none yet: npos). */
	std::unordered_map<std::string_view, size_t> rowOf;
	rowOf.reserve(keys.size());
	for (size_t i = 0; i < keys.size(); i++)
		rowOf.emplace(printed[i], std::string::npos);
	std::vector<std::optional<std::string>> bodies;
	bodies.reserve(rows);
	int documentColumn = static_cast<int>(source.def.keyColumns()) + 1;
	for (uint64 row = 0; row < rows; row++) {
		std::optional<std::string> key = keyInRow(row, 1, source.def.keyColumns());
		auto it = key ? rowOf.find(*key) : rowOf.end();
		if (it == rowOf.end())
			continue;
		if (it->second != std::string::npos)
			pg::raise(ERRCODE_CARDINALITY_VIOLATION,
					  "documents query returned more than one row for key \"" + logExcerpt(*key) + "\"");
		it->second = bodies.size();
		bodies.push_back(spi::value(row, documentColumn));
		if (bodies.back() && source.def.textDocuments)
			documents_query::checkJson(bodies.back()->c_str());
	}
	for (size_t i = 0; i < keys.size(); i++) {
		/* Not moved out: a key query may return a key twice, and both are written. */
		size_t at = rowOf[printed[i]];
		std::optional<std::string> body = at == std::string::npos ? std::nullopt : bodies[at];
		if (printed[i] != keys[i])
			respelled(keys[i], printed[i], std::move(body), documents);
		else
			documents.push_back(Document{keys[i], std::move(body)});
	}
}

void prepare(Source &source)
{
	if (source.documentsPlan != nullptr)
		return;
	/* A documents query takes an array of each key column's type; the function's call text[] arrays. */
	std::vector<Oid> argTypes;
	if (source.def.setBased)
		for (Oid type : source.def.keyTypeOids)
			argTypes.push_back(pg::call([type] { return get_array_type(type); }));
	else
		argTypes.assign(source.def.keyColumns() == 1 ? 1 : source.def.keyColumns() + 1, TEXTARRAYOID);
	SPIPlanPtr generic = spi::prepareWithArguments(source.def.documentsSql, argTypes, spi::Planning::Generic);
	try {
		source.documentsPlan = spi::prepareWithArguments(source.def.documentsSql, argTypes);
	} catch (...) {
		spi::freePlan(generic);
		throw;
	}
	source.documentsGenericPlan = generic;
}

/*
 * A batch that ran past statement_timeout while each of its keys alone did not: everything is written
 * (key by key), but every such batch first wastes a whole statement_timeout. Said at most every ten
 * minutes per source, with what to change.
 */
void hintBatchTooSlow(Source &source, size_t keys)
{
	if (!source.batchTooSlowHint.due(GetCurrentTimestamp()))
		return;
	ereport(LOG, (errmsg("cachepusher: source \"%s\": a batch of %zu keys ran past cachepusher.statement_timeout "
						 "(%d ms); each of its keys alone did not",
						 source.def.name.c_str(), keys, settings::statementTimeoutMs),
				  errhint("Lower cachepusher.batch_size (now %d) or raise cachepusher.statement_timeout: each such "
						  "batch costs a statement_timeout before its keys are fetched one by one.",
						  settings::batchSize)));
}

/* Keys that name documents (none is empty): one query, or key by key when the query fails. */
void fetchNamed(Source &source, const std::vector<std::string> &keys, std::vector<Document> &documents,
				std::vector<FailedKey> &failed)
{
	pg::asRole(source.def.owner, [&] {
		prepare(source);
		auto fetch = [&](const std::vector<std::string> &some) {
			if (source.def.setBased)
				fetchByQuery(source, some, documents);
			else
				fetchByFunction(source, some, documents);
		};

		std::string error;
		int batchError = 0;
		size_t before = documents.size();
		size_t failedBefore = failed.size();
		if (pg::trySubtransaction([&] { fetch(keys); }, &error, &batchError))
			return;
		/* Only the worker arms statement_timeout (verify() runs under the session's own). */
		bool batchTimedOut = batchError == ERRCODE_QUERY_CANCELED && pg::amBackgroundWorker() &&
							 settings::statementTimeoutMs > 0 && keys.size() > 1;

		/* Somewhere in the batch is a bad key: find it by trying each key alone. */
		documents.resize(before);
		failed.resize(failedBefore);
		/* Does each component cast to its column's type? */
		std::string castSql = "SELECT ";
		for (size_t c = 0; c < source.def.keyTypes.size(); c++)
			castSql += (c > 0 ? ", $" : "$") + std::to_string(c + 1) + "::" + source.def.keyTypes[c];
		std::vector<std::string> one(1), components;
		std::vector<std::optional<std::string>> castArgs;
		for (const std::string &key : keys) {
			one[0] = key;
			size_t mark = documents.size();
			size_t failedMark = failed.size();
			int keyError = 0;
			if (pg::trySubtransaction([&] { fetch(one); }, &error, &keyError))
				continue;
			documents.resize(mark);
			failed.resize(failedMark);
			if (keyError == ERRCODE_QUERY_CANCELED)
				batchTimedOut = false; /* this key is the slow one, not the batch */
			/* A key that does not even cast to the key type names no document: delete it. */
			std::string castError;
			bool castable = composite_key::decode(key, source.def.keyColumns(), components);
			castArgs.assign(components.begin(), components.end());
			castable = castable && pg::trySubtransaction([&] { spi::execute(castSql.c_str(), castArgs); }, &castError);
			failed.push_back(FailedKey{key, error, castable});
			if (!castable)
				documents.push_back(Document{key, std::nullopt});
		}
		if (batchTimedOut)
			hintBatchTooSlow(source, keys.size());
	});
}

} // namespace

void fetchDocuments(Source &source, const std::vector<std::string> &keys, std::vector<Document> &documents,
					std::vector<FailedKey> &failed)
{
	/* An empty string names no document: its Redis key would be the bare "prefix:". It is deleted. */
	if (std::none_of(keys.begin(), keys.end(), [](const std::string &key) { return key.empty(); })) {
		fetchNamed(source, keys, documents, failed);
		return;
	}
	std::vector<std::string> named;
	named.reserve(keys.size());
	for (const std::string &key : keys) {
		if (key.empty())
			documents.push_back(Document{key, std::nullopt});
		else
			named.push_back(key);
	}
	if (!named.empty())
		fetchNamed(source, named, documents, failed);
}

std::optional<std::string> keyInRow(uint64 row, int firstColumn, size_t columns)
{
	if (columns == 1)
		return spi::value(row, firstColumn);
	std::vector<std::string> components;
	components.reserve(columns);
	for (size_t c = 0; c < columns; c++) {
		std::optional<std::string> component = spi::value(row, firstColumn + static_cast<int>(c));
		if (!component)
			return std::nullopt; /* a key with a NULL column names no document */
		components.push_back(std::move(*component));
	}
	return composite_key::encode(std::vector<std::string_view>(components.begin(), components.end()));
}

void forgetDocumentsPlan(Source &source)
{
	spi::freePlan(source.documentsPlan);
	spi::freePlan(source.documentsGenericPlan);
	source.documentsPlan = source.documentsGenericPlan = nullptr;
}

} // namespace cachepusher

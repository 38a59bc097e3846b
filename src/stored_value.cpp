#include "stored_value.hpp"

#include "pg_boundary.hpp"
#include "redis_connection.hpp"

#include <hiredis/hiredis.h>

extern "C" {
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"
}

namespace cachepusher::stored_value {
namespace {

/*
 * Whether the module's JSON (JSON.GET: its own spacing, member order and number spelling) means the
 * document: equal as jsonb. A text jsonb cannot hold (a \u0000 escape) is compared byte for byte.
 * Parsed in a context of its own, freed each time: a source's documents would pile up in SPI's.
 */
bool sameJson(const std::string &document, std::string_view inRedis)
{
	std::string redisText(inRedis);
	try {
		return pg::call([&] {
			MemoryContext scratch =
				AllocSetContextCreate(CurrentMemoryContext, "cachepusher verify json", ALLOCSET_SMALL_SIZES);
			MemoryContext caller = MemoryContextSwitchTo(scratch);
			Datum ours = DirectFunctionCall1(jsonb_in, CStringGetDatum(document.c_str()));
			Datum theirs = DirectFunctionCall1(jsonb_in, CStringGetDatum(redisText.c_str()));
			bool same = DatumGetBool(DirectFunctionCall2(jsonb_eq, ours, theirs));
			MemoryContextSwitchTo(caller);
			MemoryContextDelete(scratch);
			return same;
		});
	} catch (const pg::PgError &) {
		return redisText == document;
	}
}

} // namespace

const char *compare(const SourceDefinition &def, const Document &doc, const redisReply *reply, std::string &why)
{
	why.clear();
	using value_type::ValueType;
	ValueType type = def.valueType;
	bool hash = type == ValueType::Hash;
	bool error = reply->type == REDIS_REPLY_ERROR;
	bool wrongType = error && std::string_view(reply->str, reply->len).substr(0, 9) == "WRONGTYPE";
	if (error && !wrongType) {
		why = value_type::refusal(type, value_type::readCommandName(type), describeReply(reply));
		return "error";
	}
	/* Redis has no empty hash: an object without members is written as no key. */
	bool inRedis = wrongType ||
				   (hash ? reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 : reply->type == REDIS_REPLY_STRING);
	if (!doc.body)
		return inRedis ? "orphan" : nullptr;
	/*
	 * What the worker writes for it: a document it cannot write (not an object, a TTL member out of
	 * range) fails there too; and whether it may have expired (the source's TTL, or its own).
	 */
	bool mayExpire = def.expiry.ttlMs > 0;
	std::vector<std::string> argv;
	if (hash || !def.expiry.field.empty()) {
		if (!value_type::writeCommand(type, "", *doc.body, def.expiry, argv, why))
			return "error";
		mayExpire = value_type::setsTtl(type, argv);
	}
	if (wrongType)
		return "stale";
	if (hash) {
		json_fields::Fields fields;
		for (size_t f = 0; inRedis && f + 1 < reply->elements; f += 2)
			fields.emplace_back(std::string(reply->element[f]->str, reply->element[f]->len),
								std::string(reply->element[f + 1]->str, reply->element[f + 1]->len));
		if (value_type::sameHash(argv, fields))
			return nullptr;
		/* A source's documents with a TTL may have expired: rebuilt on their next change. */
		return !inRedis ? (mayExpire ? nullptr : "missing") : "stale";
	}
	if (!inRedis)
		return mayExpire ? nullptr : "missing";
	std::string_view inRedisText(reply->str, reply->len);
	if (type == ValueType::Json)
		return sameJson(*doc.body, inRedisText) ? nullptr : "stale";
	return inRedisText == *doc.body ? nullptr : "stale";
}

} // namespace cachepusher::stored_value

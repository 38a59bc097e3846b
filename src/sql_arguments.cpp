#include "sql_arguments.hpp"

#include "notification_payload.hpp"
#include "value_type.hpp"

#include <set>

extern "C" {
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

namespace cachepusher::sql_arguments {

namespace payload = notification_payload;

std::optional<std::string> textArg(FunctionCallInfo fcinfo, int n)
{
	if (PG_ARGISNULL(n))
		return std::nullopt;
	char *value = pg::call([&] { return text_to_cstring(PG_GETARG_TEXT_PP(n)); });
	return std::string(value);
}

void checkName(const char *what, const std::optional<std::string> &name)
{
	if (!name)
		pg::raise(ERRCODE_NULL_VALUE_NOT_ALLOWED, std::string(what) + " must not be NULL");
	bool valid = name && !name->empty() && name->size() <= 63;
	for (char c : name.value_or(""))
		valid = valid && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
						  c == '.' || c == '-'); /* ASCII whatever the locale says is a letter */
	if (!valid)
		pg::raise(ERRCODE_INVALID_PARAMETER_VALUE, std::string("invalid ") + what + " \"" + *name + "\"",
				  "Use 1 to 63 characters of letters, digits, \"_\", \".\" and \"-\".");
}

std::vector<std::string> channelsArg(FunctionCallInfo fcinfo, int n)
{
	std::vector<std::string> channels;
	if (PG_ARGISNULL(n))
		return channels;
	Datum *elements;
	bool *nulls;
	int count;
	pg::call([&] {
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(n), TEXTOID, -1, false, TYPALIGN_INT, &elements, &nulls, &count);
	});
	std::set<std::string> seen;
	for (int i = 0; i < count; i++) {
		if (nulls[i])
			pg::raise(ERRCODE_NULL_VALUE_NOT_ALLOWED, "channel names must not be NULL");
		std::string channel(pg::call([&] { return text_to_cstring(DatumGetTextPP(elements[i])); }));
		if (channel.empty() || channel.size() >= NAMEDATALEN || channel.find('\n') != std::string::npos)
			pg::raise(ERRCODE_INVALID_PARAMETER_VALUE, "invalid channel name \"" + channel + "\"",
					  "Channel names are 1 to 63 bytes long, without line breaks.");
		if (channel == payload::keysChannel || channel == payload::controlChannel)
			pg::raise(ERRCODE_INVALID_PARAMETER_VALUE, "channel \"" + channel + "\" is reserved for cachepusher",
					  "Leave channels out to use the extension's own channel, as watch() does.");
		if (seen.insert(channel).second)
			channels.push_back(channel);
	}
	return channels;
}

/*
 * A source's TTL: NULL for none. Redis counts in milliseconds, and a document should outlive the
 * worker's next write by more than a rounding: from 1 millisecond to 100 years (as the table checks).
 * Given back as text, for a query parameter.
 */
std::optional<std::string> ttlArg(FunctionCallInfo fcinfo, int n)
{
	if (PG_NARGS() <= n || PG_ARGISNULL(n))
		return std::nullopt;
	/* In seconds as the worker reads it (EXTRACT(epoch ...): a month is 30.4375 days there). */
	double seconds = pg::call([&] {
		return DatumGetFloat8(DirectFunctionCall2(interval_part, CStringGetTextDatum("epoch"), PG_GETARG_DATUM(n)));
	});
	bool inRange = seconds >= 0.001 && seconds <= 3155760000.0;
	if (!inRange)
		pg::raise(ERRCODE_INVALID_PARAMETER_VALUE, "ttl must be between 1 millisecond and 100 years",
				  "Pass NULL to keep documents in Redis until they change.");
	return std::string(pg::call([&] { return DatumGetCString(DirectFunctionCall1(interval_out, PG_GETARG_DATUM(n))); }));
}

std::optional<std::string> ttlFieldArg(FunctionCallInfo fcinfo, int n)
{
	if (PG_NARGS() <= n || PG_ARGISNULL(n))
		return std::nullopt;
	std::string field = *textArg(fcinfo, n);
	if (field.empty())
		pg::raise(ERRCODE_INVALID_PARAMETER_VALUE, "ttl_field must not be empty",
				  "It names the member of each document that gives the document's TTL in seconds.");
	return field;
}

/* A value type: 'string', 'hash' or 'json' (value_type.hpp); NULL: fallback. */
std::optional<std::string> valueTypeArg(FunctionCallInfo fcinfo, int n, std::optional<std::string> fallback)
{
	if (PG_NARGS() <= n || PG_ARGISNULL(n))
		return fallback;
	std::string type = *textArg(fcinfo, n);
	if (!value_type::parse(type))
		pg::raise(ERRCODE_INVALID_PARAMETER_VALUE, "invalid value_type \"" + type + "\"",
				  "string writes each document as its JSON text, hash as the fields of a JSON object, json as "
				  "the server's JSON type (a JSON module: RedisJSON, Valkey JSON).");
	return type;
}

} // namespace cachepusher::sql_arguments

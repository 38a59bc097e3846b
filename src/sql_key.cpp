/*
 * cachepusher.key(VARIADIC text[]): a key of several columns as watch()'s triggers send it and the
 * worker keeps it (composite_key.hpp), for a NOTIFY trigger of one's own:
 *   PERFORM pg_notify('orders', cachepusher.key(NEW.channel, NEW.order_no::text));
 * NULL when a component is NULL (such a row names no document); one component is itself.
 */
#include "composite_key.hpp"
#include "pg_boundary.hpp"

#include <string>
#include <string_view>
#include <vector>

extern "C" {
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"

PGDLLEXPORT Datum cachepusher_key(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(cachepusher_key);
}

Datum cachepusher_key(PG_FUNCTION_ARGS)
{
	using namespace cachepusher;
	return pg::entry([&] {
		Datum *elements = nullptr;
		bool *nulls = nullptr;
		int count = 0;
		pg::call([&] {
			ArrayType *array = PG_GETARG_ARRAYTYPE_P(0);
			if (ARR_NDIM(array) > 1)
				ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("the components of a key are a one-dimensional array")));
			deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elements, &nulls, &count);
		});
		if (count == 0)
			pg::raise(ERRCODE_INVALID_PARAMETER_VALUE, "a key has at least one component");
		if (count > static_cast<int>(composite_key::maxColumns))
			pg::raise(ERRCODE_PROGRAM_LIMIT_EXCEEDED, "a key has at most 32 components, not " + std::to_string(count));
		std::vector<std::string_view> components;
		for (int i = 0; i < count; i++) {
			if (nulls[i]) {
				fcinfo->isnull = true;
				return (Datum) 0;
			}
			/* An array's elements are never toasted: the text is right there, maybe with a short header. */
			text *component = reinterpret_cast<text *>(DatumGetPointer(elements[i]));
			components.emplace_back(VARDATA_ANY(component), VARSIZE_ANY_EXHDR(component));
		}
		std::string key = composite_key::encode(components);
		return pg::call([&] { return PointerGetDatum(cstring_to_text_with_len(key.data(), key.size())); });
	});
}

#include "documents_query.hpp"

#include "pg_boundary.hpp"
#include "spi.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "parser/parse_coerce.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
}

namespace cachepusher::documents_query {
namespace {

/* As a message names a type: integer, text, public.sku. */
std::string typeName(Oid type)
{
	return pg::call([type] { return format_type_be(type); });
}

} // namespace

Shape describe(const std::string &query)
{
	spi::QueryShape parsed = spi::describeQuery(query);
	Shape shape;
	auto refuse = [&](std::string problem, std::string detail = "") {
		shape.problem = std::move(problem);
		shape.detail = std::move(detail);
		return shape;
	};
	if (parsed.statements != 1 || !parsed.returnsRows)
		return refuse("documents query must be a single SELECT",
					  "It returns (key, document) rows for the keys in the array $1.");
	if (!parsed.onlyReads)
		return refuse("documents query must be a single SELECT",
					  "It only reads: no INSERT, UPDATE or DELETE (also not in WITH), no FOR UPDATE or FOR SHARE.");
	if (parsed.parameterTypes.size() != 1)
		return refuse("documents query must use exactly one parameter, $1, not " +
						  std::to_string(parsed.parameterTypes.size()),
					  "$1 is the array of keys whose documents it returns, as in WHERE id = ANY($1).");
	Oid arrayType = parsed.parameterTypes[0];
	if (arrayType == UNKNOWNOID)
		return refuse("the type of $1 in the documents query cannot be determined",
					  "Give it a cast, for example $1::int[].");
	Oid keyType = pg::call([arrayType] { return get_element_type(arrayType); });
	if (keyType == InvalidOid)
		return refuse("$1 of the documents query must be an array of keys, not " + typeName(arrayType),
					  "Use it as an array, as in WHERE id = ANY($1).");
	if (parsed.columnTypes.size() != 2)
		return refuse("documents query must return two columns, the key and the document, not " +
					  std::to_string(parsed.columnTypes.size()));
	Oid keyColumn = parsed.columnTypes[0];
	if (keyColumn != keyType && !pg::call([&] { return IsBinaryCoercible(keyColumn, keyType); }))
		return refuse("the first column of the documents query must be the key, of type " + typeName(keyType) +
						  " like the elements of $1, not " + typeName(keyColumn),
					  "Cast one of them.");
	Oid document = parsed.columnTypes[1];
	if (document != JSONOID && document != JSONBOID && document != TEXTOID)
		return refuse("the second column of the documents query must be the document, of type json, jsonb or "
					  "text, not " + typeName(document));
	shape.keyType = keyType;
	shape.keyArrayType = arrayType;
	shape.keyTypeName = pg::call([keyType] { return format_type_be_qualified(keyType); });
	shape.textDocuments = document == TEXTOID;
	return shape;
}

uint64 run(SPIPlanPtr plan, Oid keyType, const std::vector<std::string> &keys, std::vector<std::string> &printed)
{
	size_t count = keys.size();
	char **written = nullptr;
	uint64 rows = pg::call([&] {
		Oid input, ioParam, output;
		bool isVarlena, byValue;
		int16 length;
		char align;
		getTypeInputInfo(keyType, &input, &ioParam);
		getTypeOutputInfo(keyType, &output, &isVarlena);
		get_typlenbyvalalign(keyType, &length, &byValue, &align);
		FmgrInfo inputFn, outputFn;
		fmgr_info(input, &inputFn);
		fmgr_info(output, &outputFn);
		Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * (count + 1)));
		written = static_cast<char **>(palloc(sizeof(char *) * (count + 1)));
		for (size_t i = 0; i < count; i++) {
			values[i] = InputFunctionCall(&inputFn, const_cast<char *>(keys[i].c_str()), ioParam, -1);
			written[i] = OutputFunctionCall(&outputFn, values[i]);
		}
		Datum array = PointerGetDatum(construct_array(values, count, keyType, length, byValue, align));
		int rc = SPI_execute_plan(plan, &array, NULL, true, 0);
		if (rc < 0)
			elog(ERROR, "SPI failed (%s) for the documents query", SPI_result_code_string(rc));
		return SPI_processed;
	});
	printed.clear();
	printed.reserve(count);
	for (size_t i = 0; i < count; i++)
		printed.emplace_back(written[i]);
	return rows;
}

void checkJson(const char *document)
{
	pg::call([document] { DirectFunctionCall1(json_in, CStringGetDatum(document)); });
}

} // namespace cachepusher::documents_query

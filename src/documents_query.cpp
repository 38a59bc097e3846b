#include "documents_query.hpp"

#include "composite_key.hpp"

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

std::string castTypeName(Oid type)
{
	return pg::call(
		[type] { return format_type_extended(type, -1, FORMAT_TYPE_FORCE_QUALIFY | FORMAT_TYPE_TYPEMOD_GIVEN); });
}

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
	size_t columns = parsed.parameterTypes.size();
	if (columns == 0 || columns > composite_key::maxColumns)
		return refuse("documents query must use $1, an array of keys, or one array for each column of a key "
					  "($1 .. $N), not " + std::to_string(columns) + " parameters",
					  "$1 is the array of keys whose documents it returns, as in WHERE id = ANY($1).");
	for (size_t i = 0; i < columns; i++) {
		std::string parameter = "$" + std::to_string(i + 1);
		Oid arrayType = parsed.parameterTypes[i];
		if (arrayType == UNKNOWNOID)
			return refuse("the type of " + parameter + " in the documents query cannot be determined",
						  "Give it a cast, for example " + parameter + "::int[].");
		Oid keyType = pg::call([arrayType] { return get_element_type(arrayType); });
		if (keyType == InvalidOid)
			return refuse(parameter + " of the documents query must be an array of keys, not " + typeName(arrayType),
						  "Use it as an array, as in WHERE id = ANY(" + parameter + ").");
		shape.keyTypes.push_back(keyType);
	}
	if (parsed.columnTypes.size() != columns + 1)
		return refuse(columns == 1 ? "documents query must return two columns, the key and the document, not " +
										 std::to_string(parsed.columnTypes.size())
								   : "documents query must return " + std::to_string(columns + 1) + " columns, the " +
										 std::to_string(columns) + " key columns and the document, not " +
										 std::to_string(parsed.columnTypes.size()));
	for (size_t i = 0; i < columns; i++) {
		Oid keyColumn = parsed.columnTypes[i], keyType = shape.keyTypes[i];
		if (keyColumn != keyType && !pg::call([&] { return IsBinaryCoercible(keyColumn, keyType); }))
			return refuse((columns == 1 ? std::string("the first column of the documents query must be the key")
										: "column " + std::to_string(i + 1) + " of the documents query must be key column " +
											  std::to_string(i + 1)) +
							  ", of type " + typeName(keyType) + " like the elements of $" + std::to_string(i + 1) +
							  ", not " + typeName(keyColumn),
						  "Cast one of them.");
	}
	Oid document = parsed.columnTypes[columns];
	if (document != JSONOID && document != JSONBOID && document != TEXTOID)
		return refuse((columns == 1 ? std::string("the second column") : "the last column") +
					  " of the documents query must be the document, of type json, jsonb or text, not " +
					  typeName(document));
	for (Oid keyType : shape.keyTypes)
		shape.keyTypeNames.push_back(castTypeName(keyType));
	shape.textDocuments = document == TEXTOID;
	return shape;
}

uint64 run(SPIPlanPtr plan, const std::vector<Oid> &keyTypes, const std::vector<std::string> &keys,
		   std::vector<std::string> &printed)
{
	size_t count = keys.size(), columns = keyTypes.size();
	/* components[c][i]: column c of key i. */
	std::vector<std::vector<std::string>> components(columns, std::vector<std::string>(count));
	std::vector<std::string> one;
	for (size_t i = 0; i < count; i++) {
		if (!composite_key::decode(keys[i], columns, one))
			pg::raise(ERRCODE_INVALID_TEXT_REPRESENTATION,
					  "not a key of " + std::to_string(columns) + " columns: \"" + keys[i] + "\"");
		for (size_t c = 0; c < columns; c++)
			components[c][i] = std::move(one[c]);
	}
	/* written[c][i]: component c of key i as its type prints it (palloc'd). */
	std::vector<char **> written(columns, nullptr);
	uint64 rows = pg::call([&] {
		Datum *arrays = static_cast<Datum *>(palloc(sizeof(Datum) * columns));
		for (size_t c = 0; c < columns; c++) {
			Oid input, ioParam, output;
			bool isVarlena, byValue;
			int16 length;
			char align;
			getTypeInputInfo(keyTypes[c], &input, &ioParam);
			getTypeOutputInfo(keyTypes[c], &output, &isVarlena);
			get_typlenbyvalalign(keyTypes[c], &length, &byValue, &align);
			FmgrInfo inputFn, outputFn;
			fmgr_info(input, &inputFn);
			fmgr_info(output, &outputFn);
			Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * (count + 1)));
			written[c] = static_cast<char **>(palloc(sizeof(char *) * (count + 1)));
			for (size_t i = 0; i < count; i++) {
				values[i] = InputFunctionCall(&inputFn, const_cast<char *>(components[c][i].c_str()), ioParam, -1);
				written[c][i] = OutputFunctionCall(&outputFn, values[i]);
			}
			arrays[c] = PointerGetDatum(construct_array(values, count, keyTypes[c], length, byValue, align));
		}
		int rc = SPI_execute_plan(plan, arrays, NULL, true, 0);
		if (rc < 0)
			elog(ERROR, "SPI failed (%s) for the documents query", SPI_result_code_string(rc));
		return SPI_processed;
	});
	printed.clear();
	printed.reserve(count);
	std::vector<std::string_view> printedComponents(columns);
	for (size_t i = 0; i < count; i++) {
		for (size_t c = 0; c < columns; c++)
			printedComponents[c] = written[c][i];
		printed.push_back(composite_key::encode(printedComponents));
	}
	return rows;
}

void checkJson(const char *document)
{
	pg::call([document] { DirectFunctionCall1(json_in, CStringGetDatum(document)); });
}

} // namespace cachepusher::documents_query

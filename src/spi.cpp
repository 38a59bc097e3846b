#include "spi.hpp"

#include "pg_boundary.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "parser/parse_param.h"
#include "tcop/cmdtag.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/plancache.h"
}

namespace cachepusher::spi {

namespace {
void checkResult(int rc, const char *sql)
{
	if (rc < 0)
		elog(ERROR, "SPI failed (%s) for: %s", SPI_result_code_string(rc), sql);
}

/* A text[] Datum built in the current memory context (palloc: no C++ objects are created here). */
Datum textArray(const std::vector<std::string> &items)
{
	Datum *elements = static_cast<Datum *>(palloc(sizeof(Datum) * (items.size() + 1)));
	for (size_t i = 0; i < items.size(); i++)
		elements[i] = PointerGetDatum(cstring_to_text_with_len(items[i].data(), items[i].size()));
	return PointerGetDatum(construct_array(elements, items.size(), TEXTOID, -1, false, TYPALIGN_INT));
}
} // namespace

void connect()
{
	pg::call([] {
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
	});
}

void finish()
{
	pg::call([] { SPI_finish(); });
}

uint64 execute(const char *sql)
{
	return pg::call([sql] {
		checkResult(SPI_execute(sql, false, 0), sql);
		return SPI_processed;
	});
}

uint64 execute(const char *sql, const std::vector<std::optional<std::string>> &args)
{
	return pg::call([&] {
		int n = args.size();
		Oid *types = static_cast<Oid *>(palloc(sizeof(Oid) * (n + 1)));
		Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * (n + 1)));
		char *nulls = static_cast<char *>(palloc(n + 1));
		for (int i = 0; i < n; i++) {
			types[i] = TEXTOID;
			nulls[i] = args[i] ? ' ' : 'n';
			values[i] = args[i] ? PointerGetDatum(cstring_to_text_with_len(args[i]->data(), args[i]->size()))
								: (Datum) 0;
		}
		checkResult(SPI_execute_with_args(sql, n, types, values, nulls, false, 0), sql);
		return SPI_processed;
	});
}

uint64 executeWithKeys(SPIPlanPtr plan, const std::vector<std::string> &keys)
{
	return pg::call([&] {
		Datum array = textArray(keys);
		checkResult(SPI_execute_plan(plan, &array, NULL, false, 0), "document query");
		return SPI_processed;
	});
}

uint64 executeWithArrays(SPIPlanPtr plan, const std::vector<std::vector<std::string>> &arrays)
{
	return pg::call([&] {
		Datum *values = static_cast<Datum *>(palloc(sizeof(Datum) * (arrays.size() + 1)));
		for (size_t i = 0; i < arrays.size(); i++)
			values[i] = textArray(arrays[i]);
		checkResult(SPI_execute_plan(plan, values, NULL, false, 0), "document query");
		return SPI_processed;
	});
}

std::optional<std::string> value(uint64 row, int col)
{
	char *text = pg::call([row, col] { return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col); });
	if (text == nullptr)
		return std::nullopt;
	return std::string(text);
}

std::string valueOr(uint64 row, int col, const std::string &fallback)
{
	auto v = value(row, col);
	return v ? *v : fallback;
}

int columns()
{
	return SPI_tuptable ? SPI_tuptable->tupdesc->natts : 0;
}

SPIPlanPtr prepareWithKeys(const std::string &sql)
{
	return prepareWithArgument(sql, TEXTARRAYOID);
}

SPIPlanPtr prepareWithArrays(const std::string &sql, size_t count)
{
	return prepareWithArguments(sql, std::vector<Oid>(count, TEXTARRAYOID));
}

SPIPlanPtr prepareWithArgument(const std::string &sql, Oid argType)
{
	return prepareWithArguments(sql, {argType});
}

SPIPlanPtr prepareWithArguments(const std::string &sql, const std::vector<Oid> &argTypes, Planning planning)
{
	int options = planning == Planning::Generic ? CURSOR_OPT_GENERIC_PLAN : 0;
	return pg::call([&] {
		SPIPlanPtr plan = SPI_prepare_cursor(sql.c_str(), static_cast<int>(argTypes.size()),
											 const_cast<Oid *>(argTypes.data()), options);
		if (plan == NULL)
			elog(ERROR, "could not prepare \"%s\": %s", sql.c_str(), SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "could not keep the plan for \"%s\"", sql.c_str());
		return plan;
	});
}

void freePlan(SPIPlanPtr plan)
{
	if (plan)
		pg::call([plan] { SPI_freeplan(plan); });
}

namespace {

/* Where the parser records the types it infers for $1, $2 ... (palloc'd by the parser). */
struct VariableParameters {
	Oid *types = nullptr;
	int count = 0;
};

void setupVariableParameters(ParseState *pstate, void *arg)
{
	auto *parameters = static_cast<VariableParameters *>(arg);
	setup_parse_variable_parameters(pstate, &parameters->types, &parameters->count);
}

bool onlyReads(CachedPlanSource *source)
{
	if (source->commandTag != CMDTAG_SELECT)
		return false;
	ListCell *cell;
	foreach (cell, source->query_list) {
		Query *query = lfirst_node(Query, cell);
		if (query->commandType != CMD_SELECT || query->utilityStmt != NULL || query->hasModifyingCTE ||
			query->rowMarks != NIL)
			return false;
	}
	return true;
}

} // namespace

QueryShape describeQuery(const std::string &sql)
{
	/* Filled inside the boundary with plain values only; copied into the vectors afterwards. */
	struct {
		int statements;
		bool returnsRows;
		bool onlyReads;
		int columns;
		Oid *columnTypes;
		VariableParameters parameters;
	} found{};
	pg::call([&] {
		/*
		 * The parser enlarges this array with repalloc, which keeps a chunk in its memory context: so
		 * allocated here, it outlives the parse context that SPI_prepare_extended resets on return.
		 */
		found.parameters.types = static_cast<Oid *>(palloc0(sizeof(Oid)));
		SPIPrepareOptions options;
		memset(&options, 0, sizeof(options));
		options.parserSetup = setupVariableParameters;
		options.parserSetupArg = &found.parameters;
		options.parseMode = RAW_PARSE_DEFAULT;
		SPIPlanPtr plan = SPI_prepare_extended(sql.c_str(), &options);
		if (plan == NULL)
			elog(ERROR, "could not prepare the query: %s", SPI_result_code_string(SPI_result));
		List *sources = SPI_plan_get_plan_sources(plan);
		found.statements = list_length(sources);
		if (found.statements == 1) {
			CachedPlanSource *source = (CachedPlanSource *) linitial(sources);
			found.returnsRows = SPI_is_cursor_plan(plan);
			found.onlyReads = onlyReads(source);
			TupleDesc desc = source->resultDesc;
			found.columns = desc ? desc->natts : 0;
			found.columnTypes = static_cast<Oid *>(palloc(sizeof(Oid) * (found.columns + 1)));
			for (int i = 0; i < found.columns; i++)
				found.columnTypes[i] = TupleDescAttr(desc, i)->atttypid;
		}
		/* The plan keeps a pointer to found.parameters for re-parsing: it must not outlive this. */
		SPI_freeplan(plan);
	});
	QueryShape shape;
	shape.statements = found.statements;
	shape.returnsRows = found.returnsRows;
	shape.onlyReads = found.onlyReads;
	shape.columnTypes.assign(found.columnTypes, found.columnTypes + found.columns);
	for (int i = 0; i < found.parameters.count; i++)
		shape.parameterTypes.push_back(found.parameters.types[i] ? found.parameters.types[i] : UNKNOWNOID);
	return shape;
}

} // namespace cachepusher::spi

extern "C" {
#include "utils/builtins.h"
}

namespace cachepusher::spi {

namespace {
/*
 * Opens a cursor over the query text as given: never pasted into other SQL, and read-only (a query
 * that writes or locks rows is refused).
 */
void openCursor(const std::string &name, const std::string &query, int cursorOptions)
{
	pg::call([&] {
		SPIParseOpenOptions options;
		memset(&options, 0, sizeof(options));
		options.cursorOptions = cursorOptions;
		options.read_only = true;
		SPI_cursor_parse_open(name.c_str(), query.c_str(), &options);
	});
}
} // namespace

void declareHeldCursor(const std::string &name, const std::string &query)
{
	/* Opened through SPI: a DECLARE ... WITH HOLD is refused within a security-restricted operation. */
	openCursor(name, query, CURSOR_OPT_HOLD | CURSOR_OPT_SCROLL);
}

uint64 countRows(const std::string &name)
{
	return pg::call([&] {
		Portal portal = SPI_cursor_find(name.c_str());
		if (portal == NULL)
			elog(ERROR, "cursor \"%s\" does not exist", name.c_str());
		SPI_scroll_cursor_move(portal, FETCH_FORWARD, FETCH_ALL);
		uint64 rows = SPI_processed;
		SPI_scroll_cursor_move(portal, FETCH_ABSOLUTE, 0);
		return rows;
	});
}

void declareCursor(const std::string &name, const std::string &query)
{
	openCursor(name, query, CURSOR_OPT_NO_SCROLL);
}

uint64 fetchFromCursor(const std::string &name, int count)
{
	return pg::call([&] {
		Portal portal = SPI_cursor_find(name.c_str());
		if (portal == NULL)
			elog(ERROR, "cursor \"%s\" does not exist", name.c_str());
		SPI_cursor_fetch(portal, true, count);
		return SPI_processed;
	});
}

void closeCursor(const std::string &name)
{
	pg::call([&] {
		Portal portal = SPI_cursor_find(name.c_str());
		if (portal != NULL)
			SPI_cursor_close(portal);
	});
}

} // namespace cachepusher::spi

/*
 * The trigger behind watch(): tells the worker which documents the changed rows name, at commit.
 * One C function, three ways it is installed:
 *   - AFTER INSERT / UPDATE / DELETE FOR EACH STATEMENT with transition tables (what watch() installs
 *     on ordinary tables): the key columns of every old and new row of the statement, each key once,
 *     packed many keys to a notification. A 1000-row UPDATE sends one or two notifications instead of
 *     a thousand, and the queue lock every notifying commit takes is held that much shorter.
 *   - FOR EACH ROW (installed by watch() of 1.1, and by watch() where a statement trigger would not
 *     see every change: partitions, inheritance children, foreign tables): the old and new key of one row.
 *   - AFTER TRUNCATE: asks for a resync of the source.
 * It runs in the application's transaction, so it never raises for a key: a key too long for a
 * payload asks for a resync instead.
 */
#include "composite_key.hpp"
#include "distinct_keys.hpp"
#include "key_notifier.hpp"
#include "pg_boundary.hpp"

#include <string>
#include <string_view>
#include <vector>

extern "C" {
#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

PGDLLEXPORT Datum cachepusher_notify_trigger(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(cachepusher_notify_trigger);
}

namespace cachepusher {
namespace {

[[noreturn]] void protocolViolated(const char *message)
{
	pg::raise(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED, message);
}

/*
 * The trigger's key columns (its arguments after the source): attribute numbers and the types' output
 * functions. Looked up at the first call of the trigger in a query and kept in its FmgrInfo (fn_extra,
 * in fn_mcxt, freed with the query): a row trigger then looks them up once per statement, not per row.
 */
struct KeyColumns {
	int count;
	int *attnums;
	FmgrInfo *outputs;
};

const KeyColumns &keyColumns(FunctionCallInfo fcinfo, TriggerData *trigger)
{
	if (fcinfo->flinfo->fn_extra != nullptr)
		return *static_cast<const KeyColumns *>(fcinfo->flinfo->fn_extra);
	int count = trigger->tg_trigger->tgnargs - 1;
	const char *missing = nullptr;
	KeyColumns *columns = pg::call([&]() -> KeyColumns * {
		MemoryContext memory = fcinfo->flinfo->fn_mcxt;
		TupleDesc desc = trigger->tg_relation->rd_att;
		size_t attnumsAt = MAXALIGN(sizeof(KeyColumns));
		size_t outputsAt = attnumsAt + MAXALIGN(sizeof(int) * count);
		char *block = static_cast<char *>(MemoryContextAllocZero(memory, outputsAt + sizeof(FmgrInfo) * count));
		auto *found = reinterpret_cast<KeyColumns *>(block);
		found->count = count;
		found->attnums = reinterpret_cast<int *>(block + attnumsAt);
		found->outputs = reinterpret_cast<FmgrInfo *>(block + outputsAt);
		for (int c = 0; c < count; c++) {
			const char *name = trigger->tg_trigger->tgargs[c + 1];
			int attnum = SPI_fnumber(desc, name);
			if (attnum <= 0) {
				missing = name;
				return nullptr;
			}
			Oid output;
			bool isVarlena;
			getTypeOutputInfo(TupleDescAttr(desc, attnum - 1)->atttypid, &output, &isVarlena);
			fmgr_info_cxt(output, &found->outputs[c], memory);
			found->attnums[c] = attnum;
		}
		return found;
	});
	if (columns == nullptr)
		pg::raise(ERRCODE_UNDEFINED_COLUMN,
				  std::string("column \"") + missing + "\" of the watched table does not exist");
	fcinfo->flinfo->fn_extra = columns;
	return *columns;
}

/*
 * Key columns as their types print them, in the trigger's memory (reset after each call): as many
 * items per row as the key has columns, nullptr for a NULL (such a row names no document).
 */
struct KeyList {
	char **items;
	size_t count;
	size_t capacity;
};

void append(KeyList *keys, char *key)
{
	if (keys->count == keys->capacity) {
		keys->capacity *= 2;
		keys->items = static_cast<char **>(repalloc(keys->items, sizeof(char *) * keys->capacity));
	}
	keys->items[keys->count++] = key;
}

/* A list in the trigger's memory for about this many items (it grows). */
KeyList newKeyList(size_t capacity)
{
	return KeyList{static_cast<char **>(palloc(sizeof(char *) * capacity)), 0, capacity};
}

/*
 * Appends the key columns of one row, read by column(attnum, &isNull): from a slot, or straight from
 * a heap tuple (a row trigger's; cheaper than deforming it into a slot). PostgreSQL code only: runs
 * inside pg::call.
 */
template <typename ReadColumn> void appendRowKey(const KeyColumns &columns, KeyList *keys, ReadColumn column)
{
	for (int c = 0; c < columns.count; c++) {
		bool isNull;
		Datum value = column(columns.attnums[c], &isNull);
		append(keys, isNull ? nullptr : OutputFunctionCall(&columns.outputs[c], value));
	}
}

/*
 * Appends the key columns of every row of a transition table. Other AFTER triggers of the statement
 * read the same table, so it is read through a read pointer of our own, as a query on it would.
 * PostgreSQL code only: runs inside pg::call.
 */
void appendTransitionKeys(Tuplestorestate *table, TupleTableSlot *slot, const KeyColumns &columns, KeyList *keys)
{
	int pointer = tuplestore_alloc_read_pointer(table, EXEC_FLAG_REWIND);
	tuplestore_select_read_pointer(table, pointer);
	tuplestore_rescan(table);
	while (tuplestore_gettupleslot(table, true, false, slot))
		appendRowKey(columns, keys, [slot](int attnum, bool *isNull) { return slot_getattr(slot, attnum, isNull); });
	tuplestore_select_read_pointer(table, 0);
}

/*
 * The keys of rows whose key columns are items (columns per row), each once: a key of one column as
 * it is (a view into items), a key of several encoded into encoded (composite_key.hpp).
 */
std::vector<std::string_view> uniqueKeys(char *const *items, size_t count, size_t columns,
										 std::vector<std::string> &encoded)
{
	std::vector<std::string_view> keys;
	if (columns == 1) {
		keys.reserve(count);
		for (size_t i = 0; i < count; i++)
			if (items[i] != nullptr)
				keys.emplace_back(items[i]);
	} else {
		std::vector<std::string_view> components(columns);
		encoded.reserve(count / columns);
		for (size_t row = 0; row + columns <= count; row += columns) {
			bool null = false;
			for (size_t c = 0; c < columns; c++) {
				null = null || items[row + c] == nullptr;
				components[c] = null ? std::string_view() : std::string_view(items[row + c]);
			}
			if (!null)
				encoded.push_back(composite_key::encode(components));
		}
		keys.assign(encoded.begin(), encoded.end());
	}
	/* An UPDATE that leaves the key as it was names it twice; a child table names a parent many times. */
	distinct_keys::keepFirstOccurrences(keys);
	return keys;
}

/* The keys of the rows in items, each once, to the worker at commit. */
void sendKeys(const std::string &source, const KeyList &items, const KeyColumns &columns)
{
	std::vector<std::string> encoded;
	std::vector<std::string_view> keys = uniqueKeys(items.items, items.count, columns.count, encoded);
	if (!keys.empty())
		key_notifier::notifyKeys(source, keys);
}

/* A statement's changes: every key of its old and new rows, each once, in as few payloads as fit. */
void notifyStatement(const KeyColumns &columns, TriggerData *trigger, const std::string &source)
{
	KeyList keys{};
	pg::call([&] {
		/* Both transition tables have the relation's row type: one slot reads them. */
		TupleTableSlot *slot = MakeSingleTupleTableSlot(trigger->tg_relation->rd_att, &TTSOpsMinimalTuple);
		keys = newKeyList(16);
		for (Tuplestorestate *table : {trigger->tg_oldtable, trigger->tg_newtable})
			if (table != nullptr)
				appendTransitionKeys(table, slot, columns, &keys);
		ExecDropSingleTupleTableSlot(slot);
	});
	sendKeys(source, keys, columns);
}

/* One row's change: its old and new key. */
void notifyRow(const KeyColumns &columns, TriggerData *trigger, const std::string &source)
{
	KeyList keys{};
	HeapTuple rows[2] = {trigger->tg_trigtuple,
						 TRIGGER_FIRED_BY_UPDATE(trigger->tg_event) ? trigger->tg_newtuple : nullptr};
	pg::call([&] {
		keys = newKeyList(2 * columns.count);
		TupleDesc desc = trigger->tg_relation->rd_att;
		for (HeapTuple row : rows)
			if (row != nullptr)
				appendRowKey(columns, &keys,
							 [row, desc](int attnum, bool *isNull) { return heap_getattr(row, attnum, desc, isNull); });
	});
	sendKeys(source, keys, columns);
}

} // namespace
} // namespace cachepusher

Datum cachepusher_notify_trigger(PG_FUNCTION_ARGS)
{
	using namespace cachepusher;
	return pg::entry([&] {
		if (!pg::call([&] { return CALLED_AS_TRIGGER(fcinfo); }))
			protocolViolated("cachepusher._notify_trigger must be called as a trigger");
		TriggerData *trigger = (TriggerData *) fcinfo->context;
		TriggerEvent event = trigger->tg_event;
		bool truncate = TRIGGER_FIRED_BY_TRUNCATE(event);
		int nargs = trigger->tg_trigger->tgnargs;
		if (nargs < 1 || (!truncate && nargs < 2))
			protocolViolated("cachepusher._notify_trigger needs a source and a key column");
		if (!TRIGGER_FIRED_AFTER(event))
			protocolViolated("cachepusher._notify_trigger must fire AFTER the change");
		std::string source = trigger->tg_trigger->tgargs[0];

		if (truncate)
			key_notifier::notifyResync(source);
		else if (TRIGGER_FIRED_FOR_ROW(event))
			notifyRow(keyColumns(fcinfo, trigger), trigger, source);
		else if (trigger->tg_oldtable != nullptr || trigger->tg_newtable != nullptr)
			notifyStatement(keyColumns(fcinfo, trigger), trigger, source);
		else
			protocolViolated("cachepusher._notify_trigger FOR EACH STATEMENT needs its transition tables "
							 "(REFERENCING OLD TABLE / NEW TABLE)");
		return PointerGetDatum(nullptr);
	});
}

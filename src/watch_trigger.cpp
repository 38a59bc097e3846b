/*
 * The trigger behind watch(): tells the worker which documents the changed rows name, at commit.
 * One C function, three ways it is installed:
 *   - AFTER INSERT / UPDATE / DELETE FOR EACH STATEMENT with transition tables (what watch() installs
 *     on ordinary tables): the key column of every old and new row of the statement, each key once,
 *     packed many keys to a notification. A 1000-row UPDATE sends one or two notifications instead of
 *     a thousand, and the queue lock every notifying commit takes is held that much shorter.
 *   - FOR EACH ROW (installed by watch() of 1.1, and by watch() where a statement trigger would not
 *     see every change: partitions, inheritance children, foreign tables): the old and new key of one row.
 *   - AFTER TRUNCATE: asks for a resync of the source.
 * It runs in the application's transaction, so it never raises for a key: a key too long for a
 * payload asks for a resync instead.
 */
#include "key_notifier.hpp"
#include "pg_boundary.hpp"

#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

extern "C" {
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
	pg::call([&] {
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED), errmsg("%s", message)));
	});
	pg_unreachable();
}

/* Keys as the key column's type prints them, in the trigger's memory (reset after each call). */
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

/*
 * Appends the key column of every row of a transition table. Other AFTER triggers of the statement
 * read the same table, so it is read through a read pointer of our own, as a query on it would.
 * PostgreSQL code only: runs inside pg::call.
 */
void appendTransitionKeys(Tuplestorestate *table, TupleDesc desc, int attnum, FmgrInfo *output, KeyList *keys)
{
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	int pointer = tuplestore_alloc_read_pointer(table, EXEC_FLAG_REWIND);
	tuplestore_select_read_pointer(table, pointer);
	tuplestore_rescan(table);
	while (tuplestore_gettupleslot(table, true, false, slot)) {
		bool isNull;
		Datum value = slot_getattr(slot, attnum, &isNull);
		if (!isNull)
			append(keys, OutputFunctionCall(output, value));
	}
	tuplestore_select_read_pointer(table, 0);
	ExecDropSingleTupleTableSlot(slot);
}

int keyColumn(TriggerData *trigger)
{
	const char *name = trigger->tg_trigger->tgargs[1];
	int attnum = pg::call([&] { return SPI_fnumber(trigger->tg_relation->rd_att, name); });
	if (attnum <= 0) {
		std::string message = std::string("column \"") + name + "\" of the watched table does not exist";
		pg::call([&] { ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN), errmsg("%s", message.c_str()))); });
	}
	return attnum;
}

/* A statement's changes: every key of its old and new rows, each once, in as few payloads as fit. */
void notifyStatement(TriggerData *trigger, const std::string &source)
{
	int attnum = keyColumn(trigger);
	KeyList keys{};
	pg::call([&] {
		TupleDesc desc = trigger->tg_relation->rd_att;
		Oid output;
		bool isVarlena;
		getTypeOutputInfo(TupleDescAttr(desc, attnum - 1)->atttypid, &output, &isVarlena);
		FmgrInfo outputFn;
		fmgr_info(output, &outputFn);
		keys.capacity = 16;
		keys.items = static_cast<char **>(palloc(sizeof(char *) * keys.capacity));
		for (Tuplestorestate *table : {trigger->tg_oldtable, trigger->tg_newtable})
			if (table != nullptr)
				appendTransitionKeys(table, desc, attnum, &outputFn, &keys);
	});
	if (keys.count == 0)
		return;
	/* An UPDATE that leaves the key as it was names it twice; a child table names a parent many times. */
	std::vector<std::string_view> unique;
	if (keys.count == 1)
		unique.emplace_back(keys.items[0]);
	else {
		std::unordered_set<std::string_view> seen(keys.count);
		for (size_t i = 0; i < keys.count; i++)
			if (seen.emplace(keys.items[i]).second)
				unique.emplace_back(keys.items[i]);
	}
	key_notifier::notifyKeys(source, unique);
}

/* One row's change: its old and new key. */
void notifyRow(TriggerData *trigger, const std::string &source)
{
	int attnum = keyColumn(trigger);
	TupleDesc desc = trigger->tg_relation->rd_att;
	HeapTuple rows[2] = {trigger->tg_trigtuple,
						 TRIGGER_FIRED_BY_UPDATE(trigger->tg_event) ? trigger->tg_newtuple : nullptr};
	std::vector<std::string_view> keys;
	for (HeapTuple row : rows) {
		if (row == nullptr)
			continue;
		char *key = pg::call([&] { return SPI_getvalue(row, desc, attnum); });
		if (key != nullptr && (keys.empty() || keys[0] != key))
			keys.emplace_back(key);
	}
	if (!keys.empty())
		key_notifier::notifyKeys(source, keys);
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
			notifyRow(trigger, source);
		else if (trigger->tg_oldtable != nullptr || trigger->tg_newtable != nullptr)
			notifyStatement(trigger, source);
		else
			protocolViolated("cachepusher._notify_trigger FOR EACH STATEMENT needs its transition tables "
							 "(REFERENCING OLD TABLE / NEW TABLE)");
		return PointerGetDatum(nullptr);
	});
}

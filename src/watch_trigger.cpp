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
#include "miscadmin.h"
#include "utils/float.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
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
 * functions.
 */
struct KeyColumns {
	int count;
	int *attnums;
	FmgrInfo *outputs;
};

/*
 * The column named name in desc: its attribute number (<= 0 when the table has no such column), and
 * its type's output function in *output. PostgreSQL code only.
 */
int columnOf(TupleDesc desc, const char *name, Oid *output)
{
	int attnum = SPI_fnumber(desc, name);
	if (attnum > 0) {
		bool isVarlena;
		getTypeOutputInfo(TupleDescAttr(desc, attnum - 1)->atttypid, output, &isVarlena);
	}
	return attnum;
}

/*
 * Looks the key columns up into columns (attnums and outputs in memory, for count columns); returns
 * the name of a column the table lacks, or nullptr. PostgreSQL code only: runs inside pg::call.
 */
const char *lookUp(TriggerData *trigger, KeyColumns *columns, MemoryContext memory)
{
	int count = trigger->tg_trigger->tgnargs - 1;
	TupleDesc desc = trigger->tg_relation->rd_att;
	columns->count = count;
	columns->attnums = static_cast<int *>(MemoryContextAlloc(memory, sizeof(int) * count));
	columns->outputs = static_cast<FmgrInfo *>(MemoryContextAllocZero(memory, sizeof(FmgrInfo) * count));
	for (int c = 0; c < count; c++) {
		const char *name = trigger->tg_trigger->tgargs[c + 1];
		Oid output;
		int attnum = columnOf(desc, name, &output);
		if (attnum <= 0)
			return name;
		fmgr_info_cxt(output, &columns->outputs[c], memory);
		columns->attnums[c] = attnum;
	}
	return nullptr;
}

/*
 * The key columns of the triggers this backend fires, kept across statements and transactions by the
 * trigger's OID: looked up per statement, they cost a 1-row UPDATE about 1.1k instructions (about 1 %
 * of it; bench/commit-instructions). A relcache invalidation of the table (ALTER TABLE, CREATE OR
 * REPLACE TRIGGER, but also VACUUM's statistics) marks its entries stale; a stale entry is checked at
 * its next call, and rebuilt only if the columns or their output functions changed.
 * An entry is filled or rebuilt only by the outermost call of the trigger (a key's output function
 * could run SQL that fires the trigger again): no other call can be reading it then. Entries stay until
 * the backend ends; once all 64 are taken (triggers dropped keep theirs), or when a call may not fill
 * one, its columns are looked up for its query (fn_extra), as before.
 */
constexpr int cachedTriggers = 64;

struct CachedKeyColumns {
	Oid trigger;
	Oid relation;
	bool valid;
	MemoryContext memory; /* the columns' arrays and the output functions' own state */
	KeyColumns columns; /* count -1: not (completely) filled */
};

CachedKeyColumns cache[cachedTriggers];
MemoryContext cacheMemory = nullptr;
/* Calls of the trigger under way in this backend (nested ones when an output function fires it again). */
int activeCalls = 0;
/* Counts invalidations: an entry filled while one arrived is used once and checked again at its next call. */
uint64 invalidations = 0;

void forgetRelation(Datum, Oid relation)
{
	invalidations++;
	for (CachedKeyColumns &entry : cache)
		if (entry.trigger != InvalidOid && (relation == InvalidOid || entry.relation == relation))
			entry.valid = false;
}

/* Whether a stale entry still holds what lookUp would find now. PostgreSQL code only. */
bool stillHolds(const CachedKeyColumns &entry, TriggerData *trigger)
{
	const KeyColumns &columns = entry.columns;
	if (entry.relation != RelationGetRelid(trigger->tg_relation) || columns.count != trigger->tg_trigger->tgnargs - 1)
		return false;
	TupleDesc desc = trigger->tg_relation->rd_att;
	for (int c = 0; c < columns.count; c++) {
		Oid output;
		int attnum = columnOf(desc, trigger->tg_trigger->tgargs[c + 1], &output);
		if (attnum != columns.attnums[c] || output != columns.outputs[c].fn_oid)
			return false;
	}
	return true;
}

/* The trigger's entry, or the empty one it would take; nullptr when the cache is full. No PostgreSQL call. */
CachedKeyColumns *entryFor(Oid trigger)
{
	for (int i = 0, home = static_cast<int>(trigger % cachedTriggers); i < cachedTriggers; i++) {
		CachedKeyColumns &probed = cache[(home + i) % cachedTriggers];
		if (probed.trigger == trigger || probed.trigger == InvalidOid)
			return &probed;
	}
	return nullptr;
}

/*
 * The cached columns of the trigger, filled or rebuilt now; nullptr when this call may not (*missing
 * then says whether a column is gone). PostgreSQL code only: runs inside pg::call.
 */
const KeyColumns *fillCache(TriggerData *trigger, const char **missing)
{
	Oid oid = trigger->tg_trigger->tgoid;
	CachedKeyColumns *entry = entryFor(oid);
	if (entry == nullptr || activeCalls > 1)
		return nullptr;
	if (cacheMemory == nullptr) {
		cacheMemory = AllocSetContextCreate(TopMemoryContext, "cachepusher trigger key columns", ALLOCSET_SMALL_SIZES);
		CacheRegisterRelcacheCallback(forgetRelation, (Datum) 0);
	}
	uint64 invalidationsBefore = invalidations;
	if (entry->trigger != oid || !stillHolds(*entry, trigger)) {
		if (entry->memory == nullptr)
			entry->memory =
				AllocSetContextCreate(cacheMemory, "cachepusher trigger key columns entry", ALLOCSET_SMALL_SIZES);
		/* Taken before it is filled: a fill that fails leaves a stale entry, not a gap in the probe sequence. */
		entry->trigger = oid;
		entry->valid = false;
		entry->columns.count = -1;
		MemoryContextReset(entry->memory);
		KeyColumns filled;
		if ((*missing = lookUp(trigger, &filled, entry->memory)) != nullptr)
			return nullptr;
		entry->columns = filled;
	}
	entry->relation = RelationGetRelid(trigger->tg_relation);
	entry->valid = invalidations == invalidationsBefore;
	return &entry->columns;
}

const KeyColumns &keyColumns(FunctionCallInfo fcinfo, TriggerData *trigger)
{
	if (fcinfo->flinfo->fn_extra != nullptr)
		return *static_cast<const KeyColumns *>(fcinfo->flinfo->fn_extra);
	/* The usual case, a valid entry, needs no call to PostgreSQL: a row trigger comes here for each row. */
	if (const CachedKeyColumns *entry = entryFor(trigger->tg_trigger->tgoid);
		entry != nullptr && entry->trigger == trigger->tg_trigger->tgoid && entry->valid)
		return entry->columns;
	const char *missing = nullptr;
	const KeyColumns *columns = pg::call([&]() -> const KeyColumns * {
		if (const KeyColumns *cached = fillCache(trigger, &missing); cached != nullptr || missing != nullptr)
			return cached;
		/* For this query only, in its memory. */
		auto *found = static_cast<KeyColumns *>(MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(KeyColumns)));
		if ((missing = lookUp(trigger, found, fcinfo->flinfo->fn_mcxt)) != nullptr)
			return nullptr;
		fcinfo->flinfo->fn_extra = found;
		return found;
	});
	if (columns == nullptr)
		pg::raise(ERRCODE_UNDEFINED_COLUMN,
				  std::string("column \"") + missing + "\" of the watched table does not exist");
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
 * Runs print with the key columns printed so that the worker reads back the same values whatever the
 * writing session set: dates in ISO (in SQL or German style, DMY and MDY read back as other days),
 * floats exact (extra_float_digits 0 rounds), intervals in PostgreSQL's style (a sign in SQL style
 * applies to every field). The worker prints each key again in its own session's spelling (TimeZone:
 * an ISO timestamp with time zone names its offset), so these are all it needs. Set as plain
 * variables, as the output functions read them, not as settings: only for these calls, restored even
 * when one raises. PostgreSQL code only: runs inside pg::call.
 */
template <typename Fn> void withReadableKeyOutput(Fn &&print)
{
	if (DateStyle == USE_ISO_DATES && IntervalStyle == INTSTYLE_POSTGRES && extra_float_digits > 0) {
		print();
		return;
	}
	int savedDateStyle = DateStyle, savedIntervalStyle = IntervalStyle, savedFloatDigits = extra_float_digits;
	DateStyle = USE_ISO_DATES;
	IntervalStyle = INTSTYLE_POSTGRES;
	extra_float_digits = 1;
	PG_TRY();
	{
		print();
	}
	PG_FINALLY();
	{
		DateStyle = savedDateStyle;
		IntervalStyle = savedIntervalStyle;
		extra_float_digits = savedFloatDigits;
	}
	PG_END_TRY();
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
		withReadableKeyOutput([&] {
			for (Tuplestorestate *table : {trigger->tg_oldtable, trigger->tg_newtable})
				if (table != nullptr)
					appendTransitionKeys(table, slot, columns, &keys);
		});
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
		withReadableKeyOutput([&] {
			for (HeapTuple row : rows)
				if (row != nullptr)
					appendRowKey(columns, &keys, [row, desc](int attnum, bool *isNull) {
						return heap_getattr(row, attnum, desc, isNull);
					});
		});
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
		struct ActiveCall {
			ActiveCall() { activeCalls++; }
			~ActiveCall() { activeCalls--; }
		} active;

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

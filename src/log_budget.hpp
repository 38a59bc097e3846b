/*
 * How many lines about bad input the worker logs. A key that fails and a notification that is no key
 * each get a line naming them, which is what an operator needs, but garbage sent on a channel (any
 * role may NOTIFY) or a source whose every key fails would write one line per key: thousands a
 * second. At most linesPerWindow such lines are logged per window of windowMs; the others are only
 * counted (errors in status still count every one), and one line says how many once the window is over.
 * The counting is log_window.hpp; this is the worker's one budget, and the line it logs.
 */
#pragma once

#include "timestamp.hpp"

namespace cachepusher::log_budget {

inline constexpr int linesPerWindow = 100;
inline constexpr long windowMs = 10000;

/*
 * Whether a line about bad input may be logged now; false: it is counted instead. Never calls
 * PostgreSQL, so it may run while notifications are being read.
 */
bool allow(Timestamp now);

/* Once the window with lines not logged is over, logs how many they were and opens the next one. */
void reportNotLogged(Timestamp now);

/* When reportNotLogged() will have something to say; 0 when no line went unlogged. */
Timestamp reportDueAt();

} // namespace cachepusher::log_budget

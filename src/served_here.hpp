/*
 * Whether the worker serves the database a SQL function is called in: it runs only when the library
 * is preloaded, and in one database (cachepusher.database).
 */
#pragma once

namespace cachepusher {

/*
 * Reports at elevel (WARNING or ERROR) when the worker does not serve the current database.
 * consequence: a detail line saying what that means for the caller.
 */
void reportIfNotServedHere(int elevel, const char *consequence);

} // namespace cachepusher

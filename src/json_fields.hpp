/*
 * A JSON object as a Redis hash holds it: each member's name, and its value as text (a string's own
 * characters; a number, true, false, null, object or array as its JSON text). Pure C++: the documents
 * come from PostgreSQL, which checked them to be JSON; this only splits them (test/unit).
 */
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cachepusher::json_fields {

using Fields = std::vector<std::pair<std::string, std::string>>;

/*
 * The members of the object in text, in order (a name given twice comes twice: HSET keeps the last,
 * as jsonb does). False, with what is wrong in error, when text is not one JSON object.
 */
bool split(std::string_view text, Fields &fields, std::string &error);

} // namespace cachepusher::json_fields

/*
 * Tells the worker, at commit, that keys of a source may have changed: NOTIFY on the channel
 * "cachepusher", as many keys to a payload as fit in 7999 bytes (NOTIFY's limit of 8000 counts the
 * terminating NUL). A key too long for any payload asks for a resync of the source instead. Used by the
 * watch() trigger and verify(repair).
 */
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cachepusher::key_notifier {

void notifyKeys(const std::string &source, const std::vector<std::string_view> &keys);
/* Asks the worker to warm the source again (as resync(source) does). */
void notifyResync(const std::string &source);

} // namespace cachepusher::key_notifier

/*
 * Keeps cachepusher.redis_password out of the server log. On a reload PostgreSQL logs every setting
 * that changed together with its new value ('parameter "..." changed to "..."', guc-file.l),
 * whatever the setting's flags say. The postmaster writes that line, and it has loaded us through
 * shared_preload_libraries, so a hook on emitted log messages redacts the value before it is written.
 * Children of the postmaster inherit the hook.
 */
#pragma once

namespace cachepusher::password_redaction {

/* Installs the hook (once per process), chaining to any hook installed before. */
void install();

} // namespace cachepusher::password_redaction

#include "password_redaction.hpp"

extern "C" {
#include "postgres.h"
#include "utils/elog.h"
}

#include <cstring>

namespace cachepusher::password_redaction {
namespace {

/* The untranslated format of the line a reload logs for each changed setting. */
const char *const changedFormat = "parameter \"%s\" changed to \"%s\"";
const char *const passwordSetting = "cachepusher.redis_password";

emit_log_hook_type previousHook = nullptr;
bool installed = false;

bool namesThePassword(const ErrorData *edata)
{
	if (edata->message_id == nullptr || strcmp(edata->message_id, changedFormat) != 0 || edata->message == nullptr)
		return false;
	/*
	 * Anywhere in the line: lc_messages translates the words around the name ("Parameter »%s« auf
	 * »%s« gesetzt"), never the name. Setting names are case-insensitive in the configuration file.
	 */
	size_t length = strlen(passwordSetting);
	for (const char *at = edata->message; *at != '\0'; at++)
		if (pg_strncasecmp(at, passwordSetting, length) == 0)
			return true;
	return false;
}

/* Runs inside error reporting: no C++ exceptions, nothing that can fail but palloc in ErrorContext. */
void redactPassword(ErrorData *edata) noexcept
{
	if (namesThePassword(edata)) {
		/* errfinish pfrees the message: replace it with a palloc'd one. */
		char *redacted = pstrdup("parameter \"cachepusher.redis_password\" changed (value not shown)");
		pfree(edata->message);
		edata->message = redacted;
	}
	if (previousHook)
		previousHook(edata);
}

} // namespace

void install()
{
	if (installed)
		return;
	installed = true;
	previousHook = emit_log_hook;
	emit_log_hook = redactPassword;
}

} // namespace cachepusher::password_redaction

/*
 * Preloaded after the ASan runtime into a sanitized test server (test/sanitizer-env). It only makes
 * the server start.
 *
 * ASan initializes lazily, on the first malloc, when it is preloaded into a program that is not
 * instrumented. Debian's postgres links libgpg-error, whose constructor runs before ASan's and
 * mallocs inside bindtextdomain() while holding glibc's gettext lock. ASan's initialization then
 * looks up swift_demangle with dlsym() and clears the failure with dlerror(), which translates its
 * message under that same lock: the lock's reader count goes below zero and the next gettext call
 * (postgres's own bindtextdomain) waits forever. With a swift_demangle to find, dlsym() succeeds and
 * dlerror() has nothing to translate. ASan calls it to demangle Swift names in reports; NULL says
 * "not a Swift name".
 */
#include <stddef.h>

char *swift_demangle(const char *mangled, size_t length, char *out, size_t *outLength, unsigned flags);

char *swift_demangle(const char *mangled, size_t length, char *out, size_t *outLength, unsigned flags)
{
	(void) mangled;
	(void) length;
	(void) out;
	(void) outLength;
	(void) flags;
	return NULL;
}

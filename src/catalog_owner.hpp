/*
 * The SQL functions read and write cachepusher.source with the rights of the role that owns it, after
 * checking their caller themselves: no grant on the table is needed, and none lets a role around them.
 */
#pragma once

#include "pg_boundary.hpp"

namespace cachepusher {

/* The owner of cachepusher.source (an ERROR as pg::PgError when the table is missing). */
Oid catalogOwner();

template <typename Fn>
void asCatalogOwner(Fn &&fn)
{
	pg::asRole(catalogOwner(), fn);
}

} // namespace cachepusher

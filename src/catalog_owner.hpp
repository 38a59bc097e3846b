/*
 * The SQL functions read and write cachepusher.source with the rights of the role that owns it, after
 * checking their caller themselves: no grant on the table is needed, and none lets a role around them.
 */
#pragma once

#include "pg_boundary.hpp"

namespace cachepusher {

/* The owner of cachepusher.source (an ERROR as pg::PgError when the table is missing). */
Oid catalogOwner();

/*
 * With search_path pg_catalog only, for as long as fn runs (asRole undoes it): the catalog's owner is
 * often a superuser, and the caller's search_path is the caller's to choose, so an operator, function
 * or type of the caller's schemas must not be taken for pg_catalog's in what runs with the owner's
 * rights. fn names the catalog's tables by their schema. SPI must be connected.
 */
void pinSearchPath();

template <typename Fn>
void asCatalogOwner(Fn &&fn)
{
	pg::asRole(catalogOwner(), [&] {
		pinSearchPath();
		fn();
	});
}

} // namespace cachepusher

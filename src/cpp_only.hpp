/*
 * Included last by a module that must stay free of PostgreSQL (it is built and tested without it,
 * test/unit): the build fails when the module, or a header it includes, pulled in a PostgreSQL header.
 * Only in .cpp files: a header of a pure module may well be included after postgres.h elsewhere.
 */
#pragma once

#if defined(POSTGRES_H) || defined(PG_VERSION_NUM) || defined(C_H)
#error "a C++-only module includes a PostgreSQL header; keep PostgreSQL out of it (see src/cpp_only.hpp)"
#endif

// Shapes: the part of a tracked table one delta_since() call is about -- some of its columns
// (every column of the primary key always) and the rows that match a filter (README, "Shapes").
//
// The filter is SQL text from the caller, so it is never pasted into a query. It is parsed as one
// expression (PostgreSQL's own grammar, in the mode PL/pgSQL parses expressions with: no second
// statement, no FROM, no clause of any kind), analysed against the table alone, and then walked
// node by node against a whitelist: columns of the table's records, constants, operators and
// functions that are immutable (comparisons, LIKE/ILIKE, IN, BETWEEN, arithmetic, lower(), ...),
// AND/OR/NOT, IS [NOT] NULL, IS [NOT] TRUE/FALSE, COALESCE, NULLIF, casts that are immutable. No
// subqueries, no volatile or stable functions (now(), random(), pg_sleep(), a user's function
// that writes), no parameters, no system columns. What the query then runs is the checked tree
// written back as SQL by PostgreSQL's deparser with an empty search_path, so every function,
// operator and type in it is schema-qualified: the text means what was checked, whatever the
// caller's search_path (delta_since pins its own to pg_catalog, pg_temp, and names in a filter are
// resolved there: a function of another schema is written with its schema).
//
// A cursor belongs to the shape it was read with: it carries a digest of the chosen columns and
// of the analysed filter (the tree, not its spelling: `a=1` and `a = 1` are one shape).
//
// PostgreSQL-facing: call from C++ frames (it guards its PostgreSQL calls itself).
#pragma once

#include "boundary.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace delta_sync {

struct ShapeSpec {
    bool shaped = false;               // columns or filter given: a shaped delta
    bool all_columns = true;           // columns NULL: every record column
    std::vector<std::string> columns;  // otherwise the chosen ones (every key column among them)
    std::string filter;                // the checked filter as SQL over the table aliased "t"; "" if none
    std::uint64_t digest = 0;          // what the shape's cursors carry; 0 when not shaped
};

// Reads and checks delta_since's `columns` (text[]) and `filter` (text) arguments, numbers
// columns_arg and filter_arg of fcinfo (absent arguments, as from a 1.1 declaration, are NULL),
// for table relid (locked by the caller) whose records have the columns record_columns and whose
// primary key has the columns key_columns (all of them are in every shape). Refusals: 42703 unknown or internal column, 22004 a NULL column name, 42601
// a filter that is not one expression, 0A000 anything outside the whitelist, 42804 a filter that
// is not boolean, and PostgreSQL's own errors of parse analysis.
ShapeSpec read_shape_arguments(FunctionCallInfo fcinfo, int columns_arg, int filter_arg, Oid relid,
                               const std::vector<std::string>& record_columns,
                               const std::vector<std::string>& key_columns);

// FNV-1a, 64 bits, never 0 (0 is "no shape" in a cursor).
std::uint64_t shape_digest(std::string_view normalized) noexcept;

}  // namespace delta_sync

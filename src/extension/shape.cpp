// delta_since's shape arguments, read and checked: see shape.hpp for what a filter may hold and
// why its text is never run as given.
#include "shape.hpp"

#include <algorithm>
#include <regex>

extern "C" {
#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "parser/parser.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
}

namespace delta_sync {

namespace {

constexpr const char* created_xid_column = "delta_sync_created_xid";
constexpr const char* changed_xid_column = "delta_sync_changed_xid";

const char* const whitelist_hint =
    "A filter may use the table's columns, constants, comparisons, AND, OR, NOT, IN, BETWEEN, "
    "IS [NOT] NULL, LIKE, ILIKE, COALESCE and immutable functions and operators.";

// PostgreSQL's walkers take `bool (*)()`; through void (*)(void) the cast is a plain one.
template <class F>
auto walker_of(F* f) {
    return reinterpret_cast<bool (*)()>(reinterpret_cast<void (*)(void)>(f));
}

// Errors while parsing or checking the filter point into the filter's text, not into the
// statement that called delta_since (whose text the positions would otherwise be read against).
void filter_error_position(void* arg) {
    int pos = geterrposition();
    if (pos > 0) {
        errposition(0);
        internalerrposition(pos);
        internalerrquery(static_cast<const char*>(arg));
    }
}

struct FilterWalk {
    ParseState* pstate;
    Oid relid;
    Oid mutable_function;  // set by mutable_function()
};

[[noreturn]] void refuse(FilterWalk* w, int location, const char* what) {
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("%s are not allowed in a filter", what), errhint("%s", whitelist_hint),
                    parser_errposition(w->pstate, location)));
    pg_unreachable();
}

// Before analysis: a subquery is refused before it could look up (and lock) another relation.
bool refuse_sublinks(Node* node, void* context) {
    if (!node) return false;
    if (IsA(node, SubLink))
        refuse(static_cast<FilterWalk*>(context), reinterpret_cast<SubLink*>(node)->location,
               "subqueries");
    return raw_expression_tree_walker(node, walker_of(refuse_sublinks), context);
}

bool mutable_function(Oid func, void* context) {
    if (func_volatile(func) == PROVOLATILE_IMMUTABLE) return false;
    static_cast<FilterWalk*>(context)->mutable_function = func;
    return true;
}

const char* volatility_name(Oid func) {
    switch (func_volatile(func)) {
    case PROVOLATILE_STABLE: return "stable";
    case PROVOLATILE_VOLATILE: return "volatile";
    default: return "immutable";
    }
}

// Functions, operators and casts that a node calls must all be immutable.
void check_immutable(FilterWalk* w, Node* node) {
    if (!check_functions_in_node(node, mutable_function, w)) return;
    Oid func = w->mutable_function;
    const char* detail;
    if (IsA(node, OpExpr) || IsA(node, DistinctExpr) || IsA(node, NullIfExpr))
        detail = psprintf("Operator %s calls function %s, which is %s.",
                          format_operator(reinterpret_cast<OpExpr*>(node)->opno),
                          format_procedure(func), volatility_name(func));
    else if (IsA(node, ScalarArrayOpExpr))
        detail = psprintf("Operator %s calls function %s, which is %s.",
                          format_operator(reinterpret_cast<ScalarArrayOpExpr*>(node)->opno),
                          format_procedure(func), volatility_name(func));
    else
        detail = psprintf("Function %s is %s.", format_procedure(func), volatility_name(func));
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("a filter may only call immutable functions"), errdetail("%s", detail),
                    errhint("A filter is evaluated again for each row at every pull; its result "
                            "must depend on the row alone."),
                    parser_errposition(w->pstate, exprLocation(node))));
}

// After analysis: every node is of a kind the whitelist names.
bool check_node(Node* node, void* context) {
    if (!node) return false;
    auto* w = static_cast<FilterWalk*>(context);
    switch (nodeTag(node)) {
    case T_Var: {
        auto* var = reinterpret_cast<Var*>(node);
        if (var->varattno == 0) refuse(w, var->location, "whole-row references");
        if (var->varattno < 0) refuse(w, var->location, "system columns");
        char* name = get_attname(w->relid, var->varattno, false);
        if (strcmp(name, created_xid_column) == 0 || strcmp(name, changed_xid_column) == 0)
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
                            errmsg("column \"%s\" is internal to delta_sync", name),
                            errdetail("A filter may use the columns of the table's records."),
                            parser_errposition(w->pstate, var->location)));
        return false;
    }
    case T_Const:
    case T_List:
    case T_BoolExpr:
    case T_NullTest:
    case T_BooleanTest:
    case T_RelabelType:
    case T_ArrayExpr:
    case T_CollateExpr:
    case T_CoalesceExpr:
        break;
    case T_FuncExpr:
        if (reinterpret_cast<FuncExpr*>(node)->funcretset)
            refuse(w, exprLocation(node), "set-returning functions");
        check_immutable(w, node);
        break;
    case T_OpExpr:
    case T_DistinctExpr:
    case T_NullIfExpr:
        if (reinterpret_cast<OpExpr*>(node)->opretset)
            refuse(w, exprLocation(node), "set-returning operators");
        check_immutable(w, node);
        break;
    case T_ScalarArrayOpExpr:
    case T_CoerceViaIO:
        check_immutable(w, node);
        break;
    case T_SubLink: refuse(w, exprLocation(node), "subqueries");
    case T_Param: refuse(w, exprLocation(node), "parameters");
    case T_SQLValueFunction:
        refuse(w, exprLocation(node), "CURRENT_DATE, CURRENT_USER and the like (not immutable)");
    case T_NextValueExpr: refuse(w, exprLocation(node), "sequence functions");
    case T_CaseExpr: refuse(w, exprLocation(node), "CASE expressions");
    case T_RowExpr:
    case T_RowCompareExpr: refuse(w, exprLocation(node), "row constructors");
    case T_CoerceToDomain: refuse(w, exprLocation(node), "casts to domains");
    case T_Aggref: refuse(w, exprLocation(node), "aggregate functions");
    case T_WindowFunc: refuse(w, exprLocation(node), "window functions");
    default: refuse(w, exprLocation(node), "expressions of this kind");
    }
    return expression_tree_walker(node, walker_of(check_node), context);
}

struct CheckedFilter {
    char* sql;   // deparsed, schema-qualified, over alias "t"
    char* tree;  // nodeToString of the checked expression, for the digest
};

// Parses, analyses and checks the filter; in the caller's memory context. Call inside pg_guard().
CheckedFilter check_filter(const char* filter, Oid relid) {
    ErrorContextCallback position;
    position.callback = filter_error_position;
    position.arg = const_cast<char*>(filter);
    position.previous = error_context_stack;
    error_context_stack = &position;

    FilterWalk walk{};
    walk.relid = relid;
    walk.pstate = make_parsestate(nullptr);
    walk.pstate->p_sourcetext = filter;

    // One expression, as PL/pgSQL parses one: a second statement or a clause is a syntax error
    // or a target list of another shape.
    List* parsed = raw_parser(filter, RAW_PARSE_PLPGSQL_EXPR);
    auto* select = list_length(parsed) == 1
                       ? reinterpret_cast<SelectStmt*>(linitial_node(RawStmt, parsed)->stmt)
                       : nullptr;
    if (!select || !IsA(select, SelectStmt) || list_length(select->targetList) != 1 ||
        select->distinctClause || select->intoClause || select->fromClause ||
        select->whereClause || select->groupClause || select->groupDistinct ||
        select->havingClause || select->windowClause || select->valuesLists ||
        select->sortClause || select->limitOffset || select->limitCount ||
        select->lockingClause || select->withClause || select->op != SETOP_NONE ||
        linitial_node(ResTarget, select->targetList)->name ||
        linitial_node(ResTarget, select->targetList)->indirection)
        ereport(ERROR, (errcode(ERRCODE_SYNTAX_ERROR),
                        errmsg(select && list_length(select->targetList) == 0
                                   ? "the filter is empty"
                                   : "the filter must be one expression"),
                        errdetail("A filter is what follows WHERE, without FROM, ORDER BY, "
                                  "LIMIT or other clauses.")));
    Node* raw = linitial_node(ResTarget, select->targetList)->val;
    refuse_sublinks(raw, &walk);

    Relation rel = relation_open(relid, AccessShareLock);
    ParseNamespaceItem* item =
        addRangeTableEntryForRelation(walk.pstate, rel, AccessShareLock, nullptr, false, true);
    addNSItemToQuery(walk.pstate, item, false, true, true);
    relation_close(rel, NoLock);
    Node* expr = transformExpr(walk.pstate, raw, EXPR_KIND_WHERE);
    expr = coerce_to_boolean(walk.pstate, expr, "a filter");
    assign_expr_collations(walk.pstate, expr);
    check_node(expr, &walk);

    CheckedFilter out;
    out.tree = nodeToString(expr);
    // With no schema on the search path, the deparser qualifies every function, operator and
    // type it writes (OPERATOR(pg_catalog.=), pg_catalog.lower(), 'x'::pg_catalog.text).
    OverrideSearchPath* nothing = GetOverrideSearchPath(CurrentMemoryContext);
    nothing->schemas = NIL;
    nothing->addCatalog = false;
    nothing->addTemp = false;
    PushOverrideSearchPath(nothing);
    PG_TRY();
    {
        out.sql = deparse_expression(expr, deparse_context_for("t", relid), true, false);
    }
    PG_FINALLY();
    {
        PopOverrideSearchPath();
    }
    PG_END_TRY();
    free_parsestate(walk.pstate);
    error_context_stack = position.previous;
    return out;
}

struct ColumnArg {
    int n;
    char** names;
};

ColumnArg column_names(ArrayType* array) {
    Datum* elems;
    bool* nulls;
    int n;
    deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
    ColumnArg out{n, static_cast<char**>(palloc(sizeof(char*) * (n + 1)))};
    for (int i = 0; i < n; ++i) {
        if (nulls[i])
            ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                            errmsg("the columns must not contain NULL")));
        out.names[i] = TextDatumGetCString(elems[i]);
    }
    return out;
}

}  // namespace

std::uint64_t shape_digest(std::string_view normalized) noexcept {
    std::uint64_t h = 14695981039346656037ull;
    for (unsigned char c : normalized) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h ? h : 1;
}

ShapeSpec read_shape_arguments(FunctionCallInfo fcinfo, int columns_arg, int filter_arg, Oid relid,
                               const std::vector<std::string>& record_columns,
                               const std::vector<std::string>& key_columns) {
    ShapeSpec spec;
    bool has_columns = PG_NARGS() > columns_arg && !PG_ARGISNULL(columns_arg);
    bool has_filter = PG_NARGS() > filter_arg && !PG_ARGISNULL(filter_arg);
    if (!has_columns && !has_filter) return spec;
    spec.shaped = true;
    // The normalized shape: the chosen columns in the table's order, then the analysed filter.
    std::string normalized = "columns:";
    if (has_columns) {
        ColumnArg given = pg_guard([&] { return column_names(PG_GETARG_ARRAYTYPE_P(columns_arg)); });
        std::vector<std::string> wanted;
        for (int i = 0; i < given.n; ++i) {
            std::string name = given.names[i];
            if (std::find(record_columns.begin(), record_columns.end(), name) ==
                record_columns.end()) {
                std::string msg = "column \"" + name + "\" of the table does not exist";
                const char* detail = nullptr;
                if (name == created_xid_column || name == changed_xid_column) {
                    msg = "column \"" + name + "\" is internal to delta_sync";
                    detail = "The columns are chosen among the columns of the table's records.";
                }
                throw SqlError(ERRCODE_UNDEFINED_COLUMN, msg.c_str(), detail);
            }
            wanted.push_back(std::move(name));
        }
        spec.all_columns = false;
        for (const std::string& name : record_columns)
            if (std::find(key_columns.begin(), key_columns.end(), name) != key_columns.end() ||
                std::find(wanted.begin(), wanted.end(), name) != wanted.end()) {
                spec.columns.push_back(name);
                normalized += name;
                normalized.push_back('\0');
            }
    } else {
        normalized += "*";
    }
    normalized += "\nfilter:";
    if (has_filter) {
        CheckedFilter checked = pg_guard([&] {
            return check_filter(TextDatumGetCString(PG_GETARG_DATUM(filter_arg)), relid);
        });
        spec.filter = checked.sql;
        // The tree, not the text: positions in the text do not make another shape.
        static const std::regex locations(" :location -?[0-9]+");
        normalized += std::regex_replace(std::string(checked.tree), locations, "");
    }
    spec.digest = shape_digest(normalized);
    return spec;
}

}  // namespace delta_sync
